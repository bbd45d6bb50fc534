// Fakes for the view tests: a core that answers from a table of handlers
// (through the real makeApi, so argument names are exercised too), a Ctx,
// and fixtures. Only imported by *.test.ts.
import type { AdminUser } from "./bindings/AdminUser";
import type { Session } from "./bindings/Session";
import type { Ctx, Route } from "./context";
import { h } from "./dom";
import { type Listen, makeApi } from "./ipc";

export type Handler = (args: Record<string, unknown>) => unknown;

export interface FakeCore {
  calls: Array<[string, Record<string, unknown>]>;
  /** Sends a core event to the listeners the UI registered. */
  emit(event: string, payload: unknown): void;
  listeners(event: string): number;
}

export function fakeApi(handlers: Record<string, Handler>) {
  const calls: FakeCore["calls"] = [];
  const subs = new Map<string, Set<(p: unknown) => void>>();
  const listen: Listen = async (event, handler) => {
    const set = subs.get(event) ?? new Set();
    subs.set(event, set);
    set.add(handler);
    return () => set.delete(handler);
  };
  const api = makeApi(async (cmd, args = {}) => {
    calls.push([cmd, args]);
    const f = handlers[cmd];
    if (!f) throw { code: "internal", message: `no fake for ${cmd}` };
    return await f(args);
  }, listen);
  const core: FakeCore = {
    calls,
    emit: (event, payload) => subs.get(event)?.forEach((f) => f(payload)),
    listeners: (event) => subs.get(event)?.size ?? 0,
  };
  return { api, core };
}

export const session: Session = {
  server_url: "https://tg.example.com",
  manager_name: "Ada",
  manager_email: "ada@example.com",
  storage: "keyring",
};

export const NOW = new Date("2026-03-05T12:00:00Z");

export function fakeCtx(handlers: Record<string, Handler>) {
  const { api, core } = fakeApi(handlers);
  const opened: Route[] = [];
  let signIns = 0;
  const ctx: Ctx = {
    api,
    session,
    now: () => NOW,
    open: (r) => opened.push(r),
    signInAgain: () => signIns++,
    synced: Promise.resolve(),
    syncStatus: h("div", { id: "sync-status" }),
  };
  return { ctx, core, opened, signIns: () => signIns };
}

export function user(i: number, over: Partial<AdminUser> = {}, on = i % 3 !== 0): AdminUser {
  return {
    user_id: `u_${i}`,
    contract_id: "C-10001",
    display_name: `User ${String(i).padStart(5, "0")}`,
    email: `user${i}@acme.example`,
    two_factor: {
      enabled: on,
      phone_masked: on ? `+49 ••• ••${String(i % 100).padStart(2, "0")}` : null,
      enabled_at: on ? new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString() : null,
      last_verified_at: on && i % 2 === 0 ? new Date(Date.UTC(2026, 0, 1) - i * 60_000).toISOString() : null,
    },
    ...over,
  };
}

/** Lets pending promises and zero-delay timers run. */
export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

export function key(el: Element, k: string, extra: KeyboardEventInit = {}): boolean {
  return el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...extra }));
}

export function type(input: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  input.value = value;
  input.dispatchEvent(new Event("input", { bubbles: true }));
}
