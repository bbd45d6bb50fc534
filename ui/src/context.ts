// What a screen gets from the shell: the core, the session, the clock and
// the ways to move around. Screens never touch the router or each other.
import type { Session } from "./bindings/Session";
import type { Api } from "./ipc";
import type { Sort } from "./users-table";

export type Route = { kind: "search" } | { kind: "contract"; id: string } | { kind: "user"; id: string };

export interface Ctx {
  api: Api;
  session: Session;
  /** The clock, a parameter so tests pin it. */
  now: () => Date;
  /** Opens a screen on top of the current one (Back returns). */
  open(route: Route): void;
  /** Back to the Connect screen (a revoked or missing sign-in). */
  signInAgain(): void;
  /** Resolves once the contract index sync at start has finished (either way). */
  synced: Promise<void>;
  /** The element that says how the contract index sync is going. */
  syncStatus: HTMLElement;
}

/**
 * What a screen keeps while it is on the back stack, so Back returns to it
 * as it was left: the search text, the users table's filter, sort and place.
 */
export interface ScreenState {
  query: string;
  filter?: string;
  sort?: Sort;
  scrollTop?: number;
}

/** A mounted screen: its root and what to undo when it goes. */
export interface Screen {
  root: HTMLElement;
  dispose?(): void;
  /** Called once the root is in the document (focus, measuring). */
  shown?(): void;
}
