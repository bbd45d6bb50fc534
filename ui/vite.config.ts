import { defineConfig } from "vitest/config";

// Tauri serves ui/dist through its own protocol; the dev server is only for `tauri dev`.
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2021", outDir: "dist", emptyOutDir: true, sourcemap: false, modulePreload: { polyfill: false } },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
