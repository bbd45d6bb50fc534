// The only place the UI talks to the Rust core. Every failure becomes a
// CommandError ({code, message}) so screens never see anything else.
import { invoke } from "@tauri-apps/api/core";
import type { AppInfo } from "./bindings/AppInfo";
import type { CommandError } from "./bindings/CommandError";
import type { ConnectRequest } from "./bindings/ConnectRequest";
import type { ContractHit } from "./bindings/ContractHit";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { Session } from "./bindings/Session";
import type { SyncReport } from "./bindings/SyncReport";

const CODES: readonly ErrorCode[] = [
  "server_unreachable",
  "unauthorized",
  "not_found",
  "rate_limited",
  "invalid_input",
  "keyring_unavailable",
  "not_signed_in",
  "io",
  "internal",
];

export function isCommandError(value: unknown): value is CommandError {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.message === "string" && CODES.includes(v.code as ErrorCode);
}

/** Anything thrown by invoke (or by the IPC layer itself) as a CommandError. */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) return value;
  return {
    code: "internal",
    message: "The console's window could not reach its core. Restart the console; if it happens again, send the log file.",
  };
}

type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

export function makeApi(call: Invoke = invoke) {
  const run = async <T>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
    try {
      return (await call(cmd, args)) as T;
    } catch (e) {
      throw toCommandError(e);
    }
  };
  return {
    appInfo: () => run<AppInfo>("app_info"),
    connect: (request: ConnectRequest) => run<Session>("connect", { request }),
    signOut: () => run<null>("sign_out"),
    searchContracts: (query: string, limit?: number) => run<ContractHit[]>("search_contracts", { query, limit }),
    syncContracts: () => run<SyncReport>("sync_contracts"),
  };
}

export type Api = ReturnType<typeof makeApi>;
