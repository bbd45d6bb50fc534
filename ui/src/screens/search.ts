// Search (home): one box over contracts (local index, instant) and users
// (server, debounced), shown in one listbox with group labels. The box is a
// combobox: ArrowUp/ArrowDown move the active option (aria-activedescendant),
// Enter opens it. An empty box shows the recently viewed items.
import type { AdminUser } from "../bindings/AdminUser";
import type { CommandError } from "../bindings/CommandError";
import type { ContractHit } from "../bindings/ContractHit";
import type { RecentItem } from "../bindings/RecentItem";
import type { Ctx, Screen } from "../context";
import { h } from "../dom";
import { formatShare, relativeTime } from "../format";
import { errorBox } from "../widgets";
import { openExportDialog } from "./export";

export const USER_SEARCH_DELAY_MS = 150;
/** Users are searched on the server only from this many characters on. */
export const USER_SEARCH_MIN = 2;
const LIMIT = 20;

export interface Option {
  kind: "contract" | "user";
  id: string;
  title: string;
  detail: string;
}

export interface Group {
  key: string;
  label: string;
  options: Option[];
}

/** The active option after a key press, or null when the key is not for the listbox. */
export function moveActive(current: number, key: string, count: number): number | null {
  if (count === 0) return key === "ArrowDown" || key === "ArrowUp" ? -1 : null;
  switch (key) {
    case "ArrowDown":
      return current < 0 || current >= count - 1 ? 0 : current + 1;
    case "ArrowUp":
      return current <= 0 ? count - 1 : current - 1;
    case "PageDown":
      return Math.min(count - 1, Math.max(0, current) + 5);
    case "PageUp":
      return Math.max(0, current - 5);
    default:
      return null;
  }
}

export function contractOption(c: ContractHit): Option {
  return {
    kind: "contract",
    id: c.contract_id,
    title: c.name,
    detail: `${c.contract_id} · ${formatShare(c.users_with_two_factor, c.users)} with 2FA`,
  };
}

export function userOption(u: AdminUser): Option {
  return {
    kind: "user",
    id: u.user_id,
    title: u.display_name || u.email,
    detail: `${u.email} · ${u.user_id} · ${u.contract_id} · 2FA ${u.two_factor.enabled ? "on" : "off"}`,
  };
}

export function recentOption(r: RecentItem, now: Date): Option {
  return {
    kind: r.kind,
    id: r.item_id,
    title: r.label,
    detail: `${r.kind === "contract" ? "Contract" : "User"} ${r.item_id} · viewed ${relativeTime(r.viewed_at, now)}`,
  };
}

/** The flat list the keyboard walks, in display order. */
export function flatten(groups: readonly Group[]): Option[] {
  return groups.flatMap((g) => g.options);
}

/** Keeps the same option active when results change under it; else the first. */
export function keepActive(before: Option | undefined, after: readonly Option[]): number {
  if (before) {
    const i = after.findIndex((o) => o.kind === before.kind && o.id === before.id);
    if (i >= 0) return i;
  }
  return after.length > 0 ? 0 : -1;
}

/** How many of the manager's contracts an empty search box lists. */
const EMPTY_BOX_CONTRACTS = 50;

export function searchScreen(ctx: Ctx, state: { query: string }): Screen {
  const listbox = h("div", { id: "results", role: "listbox", "aria-label": "Results", class: "results" });
  const status = h("p", { id: "search-status", class: "muted", "aria-live": "polite" });
  const errors = h("div", { class: "search-errors" });
  const input = h("input", {
    id: "search",
    type: "search",
    role: "combobox",
    "aria-controls": "results",
    "aria-expanded": "false",
    "aria-autocomplete": "list",
    "aria-label": "Search contracts and users",
    placeholder: "Contract name or id, user email or id  (Ctrl+K)",
    autocomplete: "off",
    spellcheck: "false",
    value: state.query,
  });

  let groups: Group[] = [];
  let options: Option[] = [];
  let active = -1;
  let ticket = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let alive = true;
  const groupErrors = new Map<string, CommandError>();
  let pendingUsers = false;

  const setGroup = (key: string, label: string, opts: Option[] | null) => {
    const before = options[active];
    groups = groups.filter((g) => g.key !== key);
    if (opts && opts.length > 0) groups.push({ key, label, options: opts });
    const order = ["recent", "mine", "contracts", "users"];
    groups.sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
    options = flatten(groups);
    active = keepActive(before, options);
    render();
  };

  const optionId = (i: number) => `result-${i}`;

  const renderActive = () => {
    listbox.querySelectorAll("[role=option]").forEach((el, i) => {
      el.setAttribute("aria-selected", String(i === active));
      el.classList.toggle("active", i === active);
    });
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", optionId(active));
      listbox.querySelector(`#${optionId(active)}`)?.scrollIntoView?.({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };

  const render = () => {
    let n = 0;
    listbox.replaceChildren(
      ...groups.map((g) => {
        const labelId = `group-${g.key}`;
        return h(
          "div",
          { role: "group", "aria-labelledby": labelId, class: "group" },
          h("div", { role: "presentation", id: labelId, class: "group-label" }, g.label),
          ...g.options.map((o) => {
            const i = n++;
            return h(
              "div",
              {
                role: "option",
                id: optionId(i),
                "data-kind": o.kind,
                "data-id": o.id,
                "aria-selected": "false",
                class: "option",
                onmousedown: (ev: Event) => ev.preventDefault(),
                onclick: () => openOption(o),
              },
              h("span", { class: `kind kind-${o.kind}`, "aria-hidden": "true" }, o.kind === "contract" ? "Contract" : "User"),
              h("span", { class: "name" }, o.title),
              h("span", { class: "muted detail" }, o.detail),
            );
          }),
        );
      }),
    );
    input.setAttribute("aria-expanded", String(options.length > 0));
    errors.replaceChildren(...[...groupErrors.values()].map((e) => errorBox(e, ctx.signInAgain)));
    renderActive();
    renderStatus();
  };

  const renderStatus = () => {
    const q = input.value.trim();
    if (!q) {
      status.textContent = options.length ? "" : "Type a contract name or id, or a user's email or id.";
    } else if (pendingUsers) {
      status.textContent = "Searching users…";
    } else if (options.length === 0 && groupErrors.size === 0) {
      status.textContent = `Nothing matches “${q}”.`;
    } else {
      status.textContent = "";
    }
  };

  const openOption = (o: Option) => {
    state.query = input.value;
    ctx.open(o.kind === "contract" ? { kind: "contract", id: o.id } : { kind: "user", id: o.id });
  };

  const searchContracts = async (q: string, mine: number) => {
    try {
      const hits = await ctx.api.searchContracts(q, LIMIT);
      if (mine !== ticket || !alive) return;
      groupErrors.delete("contracts");
      setGroup("contracts", "Contracts", hits.map(contractOption));
    } catch (e) {
      if (mine !== ticket || !alive) return;
      groupErrors.set("contracts", e as CommandError);
      setGroup("contracts", "Contracts", null);
    }
  };

  const searchUsers = async (q: string, mine: number) => {
    try {
      const users = await ctx.api.searchUsers(q, LIMIT);
      if (mine !== ticket || !alive) return; // a newer keystroke won
      groupErrors.delete("users");
      pendingUsers = false;
      setGroup("users", "Users", users.map(userOption));
    } catch (e) {
      if (mine !== ticket || !alive) return;
      groupErrors.set("users", e as CommandError);
      pendingUsers = false;
      setGroup("users", "Users", null);
    }
  };

  const showRecent = async (mine: number) => {
    try {
      const items = await ctx.api.recentItems(8);
      if (mine !== ticket || !alive) return;
      const now = ctx.now();
      setGroup("recent", "Recently viewed", items.map((r) => recentOption(r, now)));
    } catch (e) {
      if (mine !== ticket || !alive) return;
      groupErrors.set("recent", e as CommandError);
      render();
    }
    // Then the manager's contracts, A to Z, once the index is fresh.
    await ctx.synced;
    try {
      const contracts = await ctx.api.listContracts(EMPTY_BOX_CONTRACTS);
      if (mine !== ticket || !alive) return;
      setGroup("mine", "Your contracts", contracts.map(contractOption));
    } catch (e) {
      if (mine !== ticket || !alive) return;
      groupErrors.set("mine", e as CommandError);
      render();
    }
  };

  /** Runs the searches for what is in the box now; older answers are ignored. */
  const update = () => {
    const mine = ++ticket;
    clearTimeout(timer);
    state.query = input.value;
    const q = input.value.trim();
    groupErrors.clear();
    pendingUsers = false;
    if (!q) {
      groups = [];
      options = [];
      active = -1;
      render();
      void showRecent(mine);
      return;
    }
    // The previous users stay visible until the new answer replaces them (no
    // flicker while typing); the recent items go at once.
    groups = groups.filter(
      (g) => g.key !== "recent" && g.key !== "mine" && (g.key !== "users" || q.length >= USER_SEARCH_MIN),
    );
    options = flatten(groups);
    active = options.length > 0 ? Math.min(Math.max(active, 0), options.length - 1) : -1;
    void searchContracts(q, mine);
    if (q.length >= USER_SEARCH_MIN) {
      pendingUsers = true;
      timer = setTimeout(() => void searchUsers(q, mine), USER_SEARCH_DELAY_MS);
    }
    render();
  };

  input.addEventListener("input", update);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      const o = options[active];
      if (o) {
        ev.preventDefault();
        openOption(o);
      }
      return;
    }
    if (ev.key === "Escape" && input.value) {
      ev.preventDefault();
      input.value = "";
      update();
      return;
    }
    const next = moveActive(active, ev.key, options.length);
    if (next === null) return;
    ev.preventDefault();
    active = next;
    renderActive();
  });

  // When the index sync at start brings new contracts, search again.
  void ctx.synced.then(() => {
    if (alive && input.value.trim()) void searchContracts(input.value.trim(), ticket);
  });

  const exportAll = h(
    "button",
    { id: "export-all", type: "button", class: "quiet", onclick: () => openExportDialog(ctx, {}) },
    "Export audit CSV of all my contracts…",
  );
  const root = h(
    "section",
    { id: "home", class: "screen search", "aria-label": "Search" },
    h("div", { class: "search-box" }, input, h("div", { class: "search-meta" }, ctx.syncStatus, exportAll)),
    status,
    errors,
    listbox,
  );
  update();
  root.dataset.ready = "true";
  return {
    root,
    shown: () => input.focus(),
    dispose: () => {
      alive = false;
      clearTimeout(timer);
    },
  };
}
