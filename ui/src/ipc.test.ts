import { describe, expect, it } from "vitest";
import { isCommandError, makeApi, toCommandError } from "./ipc";

describe("ipc", () => {
  it("passes {code, message} errors through unchanged", async () => {
    const api = makeApi(async () => {
      throw { code: "rate_limited", message: "The server is limiting requests. Retry in 42 s." };
    });
    await expect(api.syncContracts()).rejects.toEqual({
      code: "rate_limited",
      message: "The server is limiting requests. Retry in 42 s.",
    });
  });

  it("turns anything else into an internal error without leaking it", async () => {
    const api = makeApi(async () => {
      throw "IPC custom protocol failed: stack trace at 0xdeadbeef";
    });
    const err = await api.appInfo().catch((e) => e);
    expect(err.code).toBe("internal");
    expect(err.message).not.toContain("0xdeadbeef");
  });

  it("sends command arguments under the names the Rust commands take", async () => {
    const calls: Array<[string, unknown]> = [];
    const api = makeApi(async (cmd, args) => {
      calls.push([cmd, args]);
      return [];
    });
    await api.searchContracts("acme", 5);
    await api.connect({ server_url: "https://x", token: "t", session_only: true });
    expect(calls).toEqual([
      ["search_contracts", { query: "acme", limit: 5 }],
      ["connect", { request: { server_url: "https://x", token: "t", session_only: true } }],
    ]);
  });

  it("recognises only known codes", () => {
    expect(isCommandError({ code: "not_found", message: "x" })).toBe(true);
    expect(isCommandError({ code: "teapot", message: "x" })).toBe(false);
    expect(toCommandError(null).code).toBe("internal");
  });
});
