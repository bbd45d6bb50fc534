// The shell: header (app name, manager, server, Back, Settings), one screen
// at a time with a back stack (Search → Contract → User), the keyboard
// shortcuts (Ctrl+K search from anywhere, Alt+Left back) and the contract
// index sync at start.
import type { AppInfo } from "./bindings/AppInfo";
import type { CommandError } from "./bindings/CommandError";
import type { Session } from "./bindings/Session";
import type { Ctx, Route, Screen, ScreenState } from "./context";
import { h, mount } from "./dom";
import { formatCount } from "./format";
import type { Api } from "./ipc";
import { toCommandError } from "./ipc";
import { connectScreen } from "./screens/connect";
import { contractScreen } from "./screens/contract";
import { openSettings } from "./screens/settings";
import { searchScreen } from "./screens/search";
import { userScreen } from "./screens/user";
import { currentModal, errorBox } from "./widgets";

interface Entry {
  route: Route;
  /** What a screen keeps when it is left and shown again. */
  state: ScreenState;
}

export function startApp(root: HTMLElement, api: Api, info: AppInfo, now: () => Date = () => new Date()): void {
  let shell: Shell | null = null;

  const showConnect = () => {
    shell?.dispose();
    shell = null;
    currentModal()?.close(true);
    mount(
      root,
      connectScreen(api, info, (session) => {
        info = { ...info, session, last_server_url: session.server_url };
        showShell(session);
      }),
    );
    root.querySelector<HTMLInputElement>(info.last_server_url ? "#token" : "#server-url")?.focus();
  };

  const showShell = (session: Session) => {
    shell?.dispose();
    shell = makeShell(root, api, info, session, now, {
      signInAgain: () => {
        info = { ...info, session: null };
        showConnect();
      },
    });
  };

  if (info.session) showShell(info.session);
  else showConnect();
}

interface Shell {
  dispose(): void;
}

function makeShell(
  root: HTMLElement,
  api: Api,
  info: AppInfo,
  session: Session,
  now: () => Date,
  hooks: { signInAgain: () => void },
): Shell {
  const stack: Entry[] = [{ route: { kind: "search" }, state: { query: "" } }];
  let current: Screen | null = null;

  const syncStatus = h("div", { id: "sync-status", class: "muted sync", "aria-live": "polite" });
  const synced = runSync(api, syncStatus, hooks.signInAgain);

  const back = h(
    "button",
    {
      id: "back",
      type: "button",
      class: "back",
      "aria-keyshortcuts": "Alt+ArrowLeft",
      title: "Back (Alt+Left)",
      disabled: true,
      onclick: () => goBack(),
    },
    "← Back",
  );
  const main = h("main", { id: "main" });

  const ctx: Ctx = {
    api,
    session,
    now,
    synced,
    syncStatus,
    signInAgain: hooks.signInAgain,
    open: (route) => {
      stack.push({ route, state: { query: "" } });
      show();
    },
  };

  const goBack = () => {
    if (stack.length <= 1) return;
    stack.pop();
    show();
  };

  const show = () => {
    current?.dispose?.();
    const entry = stack[stack.length - 1];
    const r = entry.route;
    current =
      r.kind === "search" ? searchScreen(ctx, entry.state) : r.kind === "contract" ? contractScreen(ctx, r.id, entry.state) : userScreen(ctx, r.id);
    mount(main, current.root);
    back.disabled = stack.length <= 1;
    current.shown?.();
  };

  const focusSearch = () => {
    const top = stack[stack.length - 1];
    if (top.route.kind !== "search") {
      stack.push({ route: { kind: "search" }, state: { query: "" } });
      show();
    }
    const input = document.getElementById("search") as HTMLInputElement | null;
    input?.focus();
    input?.select();
  };

  const onKey = (ev: KeyboardEvent) => {
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === "k") {
      ev.preventDefault();
      const m = currentModal();
      if (m && !m.close()) return; // a dialog that must stay (an export running)
      focusSearch();
    } else if (ev.altKey && ev.key === "ArrowLeft" && !currentModal()) {
      ev.preventDefault();
      goBack();
    }
  };
  document.addEventListener("keydown", onKey);

  const header = h(
    "header",
    { class: "app-header" },
    back,
    h("strong", { class: "app-name" }, "Tollgate Console"),
    h(
      "span",
      { class: "who muted" },
      h("span", { class: "manager", title: session.manager_email }, session.manager_name),
      " · ",
      h("span", { class: "server" }, session.server_url),
    ),
    session.storage === "session_only" ? h("span", { class: "badge", title: "The token is not saved" }, "session only") : null,
    h(
      "button",
      {
        id: "open-settings",
        type: "button",
        class: "settings",
        onclick: () => openSettings({ api, session, version: info.version, now, signInAgain: hooks.signInAgain, signedOut: hooks.signInAgain }),
      },
      "Settings",
    ),
  );

  mount(root, h("div", { class: "shell" }, header, main));
  show();

  return {
    dispose: () => {
      current?.dispose?.();
      document.removeEventListener("keydown", onKey);
    },
  };
}

/** Updates the local contract index without blocking anything; says how it went. */
async function runSync(api: Api, line: HTMLElement, signInAgain: () => void): Promise<void> {
  line.replaceChildren("Updating contract index…");
  line.setAttribute("aria-busy", "true");
  try {
    const report = await api.syncContracts();
    line.replaceChildren(`Contract index up to date · ${formatCount(report.total)} contracts`);
  } catch (e) {
    const err: CommandError = toCommandError(e);
    line.replaceChildren(errorBox({ ...err, message: `The contract index could not be updated. ${err.message}` }, signInAgain));
  } finally {
    line.removeAttribute("aria-busy");
  }
}
