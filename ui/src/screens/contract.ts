// Contract: name, id, user count, share with 2FA, and its users in a
// sortable, filterable, virtualised table (fixed row height; only the
// visible rows plus an overscan are in the DOM, so 10,000 users scroll
// smoothly). Click or Enter on a row opens the user.
import type { AdminUser } from "../bindings/AdminUser";
import type { CommandError } from "../bindings/CommandError";
import type { ContractView } from "../bindings/ContractView";
import type { Ctx, Screen, ScreenState } from "../context";
import { h } from "../dom";
import { formatCount, formatLocalTime, formatShare, plural, relativeTime } from "../format";
import {
  ariaSort,
  COLUMNS,
  filterRows,
  indexUsers,
  nextSort,
  orderFor,
  type Row,
  type UsersIndex,
  scrollToRow,
  type Sort,
  sortRows,
  virtualWindow,
} from "../users-table";
import { errorBox, settleFocus } from "../widgets";
import { openDisableDialog } from "./disable";
import { openExportDialog } from "./export";

export const ROW_HEIGHT = 40;
const HEAD_HEIGHT = 40;
const OVERSCAN = 8;
/** Used when the container has no layout yet (or in tests). */
const FALLBACK_VIEWPORT = 600;

export function contractScreen(ctx: Ctx, contractId: string, state: ScreenState = { query: "" }): Screen {
  const root = h("section", { id: "contract", class: "screen contract", "aria-busy": "true" });
  root.dataset.ready = "false";
  let alive = true;
  let table: UsersTable | null = null;
  const onResize = () => table?.draw();
  window.addEventListener("resize", onResize);

  const load = async (refresh = false) => {
    if (!refresh) root.replaceChildren(h("p", { class: "muted loading" }, "Loading contract…"));
    root.dataset.ready = "false";
    root.setAttribute("aria-busy", "true");
    try {
      const view = await ctx.api.openContract(contractId);
      if (!alive) return;
      if (refresh && table) {
        renderSummary(view);
        table.setUsers(view.users);
      } else {
        render(view);
        settleFocus(root, "#users-filter");
      }
      root.dataset.ready = "true";
      delete root.dataset.error;
      notice.replaceChildren();
    } catch (e) {
      if (!alive) return;
      const err = e as CommandError;
      if (refresh && table && err.code !== "not_found") {
        // Keep the table the manager is looking at; say the refresh failed.
        notice.replaceChildren(
          errorBox({ ...err, message: `The list could not be refreshed. ${err.message}` }, ctx.signInAgain, () => void load(true)),
        );
        root.dataset.ready = "true";
        return;
      }
      table = null;
      root.replaceChildren(
        h("h1", { tabindex: -1 }, err.code === "not_found" ? "Contract not found" : "The contract could not be opened"),
        h("p", { class: "muted" }, `Contract ${contractId}`),
        errorBox(err, ctx.signInAgain, err.code === "not_found" ? undefined : () => void load()),
      );
      root.dataset.error = err.code;
    } finally {
      root.removeAttribute("aria-busy");
    }
  };

  const summary = h("div", { class: "summary" });
  const notice = h("div", { class: "notice-area" });
  const renderSummary = (view: ContractView) => {
    const c = view.contract;
    summary.replaceChildren(
      h("h1", { id: "contract-name", tabindex: -1 }, c.name),
      h(
        "p",
        { class: "facts" },
        h("span", { class: "id" }, c.contract_id),
        " · ",
        h("span", {}, plural(c.users, "user")),
        " · ",
        h("span", { id: "contract-share" }, `${formatShare(c.users_with_two_factor, c.users)} with 2FA`),
      ),
    );
    disableBtn.onclick = () =>
      openDisableDialog(ctx, { kind: "contract", contract: c }, () => void load(true));
    exportBtn.onclick = () => openExportDialog(ctx, { contract: { id: c.contract_id, name: c.name } });
  };
  const disableBtn = h("button", { id: "disable-contract", type: "button", class: "danger" }, "Disable 2FA for all users");
  const exportBtn = h("button", { id: "export-audit", type: "button" }, "Export audit CSV");

  const render = (view: ContractView) => {
    renderSummary(view);
    table = new UsersTable(ctx, view.contract.name, view.users, state);
    root.replaceChildren(
      h("div", { class: "screen-head" }, summary, h("div", { class: "actions" }, disableBtn, exportBtn)),
      notice,
      table.el,
    );
    table.draw();
    table.restoreScroll();
  };

  void load();
  return {
    root,
    dispose: () => {
      alive = false;
      window.removeEventListener("resize", onResize);
    },
  };
}

/** The table's DOM around the pure functions in users-table.ts. */
class UsersTable {
  readonly el: HTMLElement;
  private index: UsersIndex = indexUsers([]);
  private view: Row[] = [];
  private sort: Sort = { key: "name", dir: "asc" };
  private active = -1;
  private drawn = "";
  private readonly filter: HTMLInputElement;
  private readonly count: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly body: HTMLElement;
  private readonly headers: HTMLElement[];
  private readonly empty: HTMLElement;
  private frame = 0;

  constructor(
    private readonly ctx: Ctx,
    contractName: string,
    users: AdminUser[],
    private readonly state: ScreenState,
  ) {
    if (state.sort) this.sort = state.sort;
    this.filter = h("input", {
      id: "users-filter",
      type: "search",
      placeholder: "Filter by name, email or id",
      "aria-label": "Filter users",
      "aria-controls": "users-table",
      autocomplete: "off",
      spellcheck: "false",
      value: state.filter ?? "",
    });
    this.count = h("span", { class: "muted count", "aria-live": "polite" });
    this.headers = COLUMNS.map((col) =>
      h(
        "div",
        { role: "columnheader", class: `cell col-${col.key}`, "data-key": col.key },
        h("button", { type: "button", class: "sort", onclick: () => this.sortBy(col.key) }, col.label, h("span", { class: "arrow", "aria-hidden": "true" })),
      ),
    );
    this.body = h("div", { class: "tbody", role: "rowgroup" });
    this.empty = h("p", { class: "muted empty", hidden: true }, "No user matches the filter.");
    this.grid = h(
      "div",
      {
        id: "users-table",
        role: "grid",
        tabindex: 0,
        "aria-label": `Users of ${contractName}`,
        "aria-readonly": "true",
        class: "users-table",
      },
      h("div", { class: "thead", role: "rowgroup" }, h("div", { role: "row", class: "row head", "aria-rowindex": 1 }, ...this.headers)),
      this.body,
    );
    this.el = h(
      "div",
      { class: "users" },
      h("div", { class: "users-tools" }, this.filter, this.count),
      this.grid,
      this.empty,
    );
    this.filter.addEventListener("input", () => this.refilter(true));
    this.filter.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" && this.view.length > 0) {
        ev.preventDefault();
        this.grid.focus();
        this.setActive(Math.max(0, this.active));
      }
    });
    this.grid.addEventListener("scroll", () => {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.state.scrollTop = this.grid.scrollTop;
        this.draw();
      });
    });
    this.grid.addEventListener("keydown", (ev) => this.onKey(ev));
    this.grid.addEventListener("focus", () => {
      if (this.active < 0 && this.view.length > 0) this.setActive(0);
    });
    this.body.addEventListener("click", (ev) => {
      const row = (ev.target as HTMLElement).closest<HTMLElement>("[data-user-id]");
      if (row) this.ctx.open({ kind: "user", id: row.dataset.userId! });
    });
    this.setUsers(users);
  }

  setUsers(users: AdminUser[]): void {
    const activeId = this.view[this.active]?.user.user_id;
    this.index = indexUsers(users);
    this.refilter(false);
    if (activeId) this.active = this.view.findIndex((r) => r.user.user_id === activeId);
    this.draw(true);
    this.warm(this.index);
  }

  /** Orders the other columns one per idle moment, so a header click only walks a cached order. */
  private warm(index: UsersIndex): void {
    const todo = COLUMNS.map((c) => c.key).filter((k) => !index.orders[k]);
    const idle: (f: () => void) => void =
      typeof requestIdleCallback === "function" ? (f) => requestIdleCallback(f) : (f) => setTimeout(f, 50);
    const step = () => {
      const k = todo.shift();
      if (!k || index !== this.index) return;
      orderFor(index, k);
      idle(step);
    };
    idle(step);
  }

  /** Back to where the manager was (after Back), once the grid has its layout. */
  restoreScroll(): void {
    const top = this.state.scrollTop ?? 0;
    if (top > 0) {
      this.grid.scrollTop = top;
      this.draw(true);
    }
  }

  private sortBy(key: Sort["key"]): void {
    this.sort = nextSort(this.sort, key);
    this.state.sort = this.sort;
    this.refilter(false);
    this.draw(true);
  }

  private refilter(draw: boolean): void {
    this.state.filter = this.filter.value;
    this.view = sortRows(this.index, filterRows(this.index, this.filter.value), this.sort);
    this.active = this.view.length > 0 ? Math.min(this.active, this.view.length - 1) : -1;
    const total = this.index.rows.length;
    this.count.textContent =
      this.view.length === total ? `Showing ${plural(total, "user")}` : `${formatCount(this.view.length)} of ${plural(total, "user")} match`;
    this.empty.hidden = this.view.length > 0 || total === 0;
    this.grid.setAttribute("aria-rowcount", String(this.view.length + 1));
    this.headers.forEach((hd) => {
      const key = hd.dataset.key as Sort["key"];
      const s = ariaSort(this.sort, key);
      hd.setAttribute("aria-sort", s);
      hd.querySelector(".arrow")!.textContent = s === "ascending" ? " ▲" : s === "descending" ? " ▼" : "";
    });
    if (draw) {
      this.grid.scrollTop = 0;
      this.state.scrollTop = 0;
      this.draw(true);
    }
  }

  private viewport(): number {
    const hgt = this.grid.clientHeight;
    return (hgt > HEAD_HEIGHT ? hgt : FALLBACK_VIEWPORT) - HEAD_HEIGHT;
  }

  /** Renders the rows in the window; skips the work when nothing changed. */
  draw(force = false): void {
    const w = virtualWindow(this.grid.scrollTop, this.viewport(), ROW_HEIGHT, this.view.length, OVERSCAN);
    this.body.style.height = `${w.height}px`;
    // The active row is not part of the key: moving it restyles rows in
    // place (markActive), so a click between mousedown and mouseup never
    // loses its row to a redraw.
    const key = `${w.start}:${w.end}`;
    if (!force && key === this.drawn) return;
    this.drawn = key;
    const now = this.ctx.now();
    const out: HTMLElement[] = [];
    for (let i = w.start; i < w.end; i++) out.push(this.rowEl(this.view[i].user, i, now));
    this.body.replaceChildren(...out);
    this.markActive();
  }

  /** Styles the active row (and only it) and points aria-activedescendant at it. */
  private markActive(): void {
    for (const row of Array.from(this.body.children) as HTMLElement[]) {
      const on = row.id === `user-row-${this.active}`;
      row.classList.toggle("active", on);
      row.setAttribute("aria-selected", String(on));
    }
    if (this.active >= 0) this.grid.setAttribute("aria-activedescendant", `user-row-${this.active}`);
    else this.grid.removeAttribute("aria-activedescendant");
  }

  private rowEl(u: AdminUser, i: number, now: Date): HTMLElement {
    const tf = u.two_factor;
    const row = h(
      "div",
      {
        role: "row",
        id: `user-row-${i}`,
        class: i === this.active ? "row active" : "row",
        "aria-rowindex": i + 2,
        "aria-selected": String(i === this.active),
        "data-user-id": u.user_id,
      },
      h("div", { role: "gridcell", class: "cell col-name", title: u.display_name }, u.display_name),
      h("div", { role: "gridcell", class: "cell col-email", title: u.email }, u.email),
      h(
        "div",
        { role: "gridcell", class: "cell col-two_factor" },
        h("span", { class: tf.enabled ? "badge on" : "badge off" }, tf.enabled ? "On" : "Off"),
      ),
      h("div", { role: "gridcell", class: "cell col-phone" }, tf.phone_masked ?? "—"),
      h("div", { role: "gridcell", class: "cell col-enabled_at" }, tf.enabled_at ? formatLocalTime(tf.enabled_at) : "—"),
      h(
        "div",
        { role: "gridcell", class: "cell col-last_verified", title: tf.last_verified_at ? formatLocalTime(tf.last_verified_at) : "" },
        tf.last_verified_at ? relativeTime(tf.last_verified_at, now) : "never",
      ),
    );
    row.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
    return row;
  }

  private setActive(i: number): void {
    if (this.view.length === 0) return;
    this.active = Math.min(Math.max(0, i), this.view.length - 1);
    this.grid.scrollTop = scrollToRow(this.active, this.grid.scrollTop, this.viewport(), ROW_HEIGHT);
    this.draw();
    this.markActive();
  }

  private onKey(ev: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport() / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = {
      ArrowDown: this.active + 1,
      ArrowUp: this.active - 1,
      PageDown: this.active + page,
      PageUp: this.active - page,
      Home: 0,
      End: this.view.length - 1,
    };
    if (ev.key in moves) {
      ev.preventDefault();
      this.setActive(moves[ev.key]);
    } else if (ev.key === "Enter" && this.active >= 0 && this.view[this.active]) {
      ev.preventDefault();
      this.ctx.open({ kind: "user", id: this.view[this.active].user.user_id });
    }
  }
}
