// The only place the UI talks to the Rust core. Every failure becomes a
// CommandError ({code, message}) so screens never see anything else.
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { AdminUser } from "./bindings/AdminUser";
import type { AppInfo } from "./bindings/AppInfo";
import type { CommandError } from "./bindings/CommandError";
import type { ConnectRequest } from "./bindings/ConnectRequest";
import type { ContractDisabled } from "./bindings/ContractDisabled";
import type { ContractHit } from "./bindings/ContractHit";
import type { ContractView } from "./bindings/ContractView";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { ExportOutcome } from "./bindings/ExportOutcome";
import type { ExportProgress } from "./bindings/ExportProgress";
import type { ExportRecord } from "./bindings/ExportRecord";
import type { ExportRequest } from "./bindings/ExportRequest";
import type { Notification } from "./bindings/Notification";
import type { Page } from "./bindings/Page";
import type { RecentItem } from "./bindings/RecentItem";
import type { RecentKind } from "./bindings/RecentKind";
import type { Session } from "./bindings/Session";
import type { SyncReport } from "./bindings/SyncReport";
import type { UserDisabled } from "./bindings/UserDisabled";
import type { UserView } from "./bindings/UserView";

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
/** Subscribes to a core event; resolves to the function that unsubscribes. */
export type Listen = (event: string, handler: (payload: unknown) => void) => Promise<() => void>;

const tauriListen: Listen = (event, handler) => listen(event, (e) => handler(e.payload));

/** The event the core emits while `run_export` writes rows. */
export const EXPORT_PROGRESS = "export-progress";

export function makeApi(call: Invoke = invoke, on: Listen = tauriListen) {
  const run = async <T>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
    try {
      return (await call(cmd, args)) as T;
    } catch (e) {
      throw toCommandError(e);
    }
  };
  return {
    appInfo: () => run<AppInfo>("app_info"),
    /** Tells the core the first screen is painted (it logs the start-up time). */
    uiReady: () => run<number | null>("ui_ready"),
    connect: (request: ConnectRequest) => run<Session>("connect", { request }),
    signOut: () => run<null>("sign_out"),
    searchContracts: (query: string, limit?: number) => run<ContractHit[]>("search_contracts", { query, limit }),
    listContracts: (limit?: number) => run<ContractHit[]>("list_contracts", { limit }),
    syncContracts: () => run<SyncReport>("sync_contracts"),
    searchUsers: (query: string, limit?: number) => run<AdminUser[]>("search_users", { query, limit }),
    recordView: (kind: RecentKind, itemId: string, label: string) => run<null>("record_view", { kind, itemId, label }),
    recentItems: (limit?: number) => run<RecentItem[]>("recent_items", { limit }),
    exportHistory: (limit?: number) => run<ExportRecord[]>("export_history", { limit }),
    openContract: (contractId: string) => run<ContractView>("open_contract", { contractId }),
    openUser: (userId: string) => run<UserView>("open_user", { userId }),
    moreNotifications: (userId: string, cursor: string) =>
      run<Page<Notification>>("more_notifications", { userId, cursor }),
    disableUser: (userId: string, reason: string) => run<UserDisabled>("disable_user", { userId, reason }),
    disableContract: (contractId: string, reason: string, typedContractId: string) =>
      run<ContractDisabled>("disable_contract", { contractId, reason, typedContractId }),
    chooseExportPath: (request: ExportRequest) => run<string | null>("choose_export_path", { request }),
    runExport: (request: ExportRequest, path: string) => run<ExportOutcome>("run_export", { request, path }),
    /** Answers whether an export was running. */
    cancelExport: () => run<boolean>("cancel_export"),
    /** Calls `handler` with each `export-progress` payload until the returned function is called. */
    onExportProgress: async (handler: (p: ExportProgress) => void): Promise<() => void> => {
      try {
        return await on(EXPORT_PROGRESS, (payload) => handler(payload as ExportProgress));
      } catch (e) {
        throw toCommandError(e);
      }
    },
  };
}

export type Api = ReturnType<typeof makeApi>;
