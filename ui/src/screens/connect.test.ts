import { describe, expect, it } from "vitest";
import type { AppInfo } from "../bindings/AppInfo";
import type { Session } from "../bindings/Session";
import { makeApi } from "../ipc";
import { connectScreen } from "./connect";

const info = (available: boolean): AppInfo => ({
  version: "0.1.0",
  keyring: { available, detail: available ? null : "No Secret Service is reachable." },
  session: null,
  last_server_url: "https://tg.example.com",
});

const session: Session = {
  server_url: "https://tg.example.com",
  manager_name: "Ada",
  manager_email: "ada@example.com",
  storage: "session_only",
};

function fill(view: HTMLElement, token: string) {
  (view.querySelector("#token") as HTMLInputElement).value = token;
  view.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("connect screen", () => {
  it("pre-fills the last server and offers session-only when no keyring is reachable", () => {
    const view = connectScreen(makeApi(async () => null), info(false), () => {});
    expect((view.querySelector("#server-url") as HTMLInputElement).value).toBe("https://tg.example.com");
    expect(view.querySelector("#keyring-notice")?.textContent).toContain("session only");
    expect((view.querySelector("#session-only") as HTMLInputElement).checked).toBe(true);
  });

  it("has no keyring notice when the keyring works", () => {
    const view = connectScreen(makeApi(async () => null), info(true), () => {});
    expect(view.querySelector("#keyring-notice")).toBeNull();
    expect((view.querySelector("#session-only") as HTMLInputElement).checked).toBe(false);
  });

  it("sends the form, clears the token and reports the session", async () => {
    const sent: unknown[] = [];
    let signedIn: Session | null = null;
    const api = makeApi(async (_cmd, args) => {
      sent.push(args);
      return session;
    });
    const view = connectScreen(api, info(false), (s) => (signedIn = s));
    fill(view, "tgm_secret");
    await tick();
    expect(sent).toEqual([
      { request: { server_url: "https://tg.example.com", token: "tgm_secret", session_only: true } },
    ]);
    expect(signedIn).toEqual(session);
    expect((view.querySelector("#token") as HTMLInputElement).value).toBe("");
  });

  it("shows the core's message and switches to session-only on keyring_unavailable", async () => {
    const api = makeApi(async () => {
      throw { code: "keyring_unavailable", message: "The OS keyring could not save the token." };
    });
    const view = connectScreen(api, info(true), () => {});
    fill(view, "tgm_secret");
    await tick();
    const alert = view.querySelector("[role=alert]") as HTMLElement;
    expect(alert.hidden).toBe(false);
    expect(alert.textContent).toBe("The OS keyring could not save the token.");
    expect((view.querySelector("#session-only") as HTMLInputElement).checked).toBe(true);
  });
});
