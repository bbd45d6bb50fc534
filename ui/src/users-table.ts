// The contract screen's users table as pure functions: indexing, filtering,
// sorting and the virtual window. A contract can have 10,000 users, so the
// work per keystroke or header click must stay far below one frame (16 ms):
// the filter haystack is computed once per load, each column's order once
// on first use (plain string comparisons, no localeCompare), and every
// later sort or filter is linear.
import type { AdminUser } from "./bindings/AdminUser";

export type SortKey = "name" | "email" | "two_factor" | "phone" | "enabled_at" | "last_verified";
export type SortDir = "asc" | "desc";
export interface Sort {
  key: SortKey;
  dir: SortDir;
}

export const COLUMNS: ReadonlyArray<{ key: SortKey; label: string }> = [
  { key: "name", label: "Name" },
  { key: "email", label: "Email" },
  { key: "two_factor", label: "2FA" },
  { key: "phone", label: "Phone" },
  { key: "enabled_at", label: "Enabled at" },
  { key: "last_verified", label: "Last verified" },
];

/** A user with its filter haystack and its position in the index. */
export interface Row {
  user: AdminUser;
  hay: string;
  pos: number;
}

/**
 * The rows of one load, and per column the order of all rows ascending,
 * computed on first use and kept: after that, sorting any filtered subset
 * is a linear walk of the cached order (no comparisons at all).
 */
export interface UsersIndex {
  rows: Row[];
  orders: Partial<Record<SortKey, Row[]>>;
}

// Missing values (no phone, never verified) sort after every present value
// in ascending order.
const MISSING = "\uffff";

/** Instants compare as strings once normalised to UTC milliseconds, zero-padded. */
function timeKey(iso: string | null): string {
  if (!iso) return MISSING;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? MISSING : String(t).padStart(16, "0");
}

function primaryKey(u: AdminUser, key: SortKey): string {
  const tf = u.two_factor;
  switch (key) {
    case "name":
      return u.display_name.toLowerCase();
    case "email":
      return u.email.toLowerCase();
    case "two_factor":
      return tf.enabled ? "0" : "1"; // "On" first in ascending order: what a manager looks for
    case "phone":
      return tf.phone_masked ?? MISSING;
    case "enabled_at":
      return timeKey(tf.enabled_at);
    case "last_verified":
      return timeKey(tf.last_verified_at);
  }
}

export function indexUsers(users: readonly AdminUser[]): UsersIndex {
  const rows = users.map((user, pos) => ({
    user,
    pos,
    hay: `${user.display_name.toLowerCase()}\n${user.email.toLowerCase()}\n${user.user_id.toLowerCase()}`,
  }));
  return { rows, orders: {} };
}

/**
 * All rows ascending by `key`; ties by name, then id, so the order is total
 * and stable. One string comparison per pair: the keys are concatenated once.
 */
export function orderFor(index: UsersIndex, key: SortKey): Row[] {
  const cached = index.orders[key];
  if (cached) return cached;
  const keyed = index.rows.map((r) => ({
    r,
    k: `${primaryKey(r.user, key)}\u0000${r.user.display_name.toLowerCase()}\u0000${r.user.user_id}`,
  }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  const order = keyed.map((x) => x.r);
  index.orders[key] = order;
  return order;
}

/** Rows whose name, email or id contains the query (case-insensitive). */
export function filterRows(index: UsersIndex, query: string): Row[] {
  const q = query.trim().toLowerCase();
  if (!q) return index.rows.slice();
  return index.rows.filter((r) => r.hay.includes(q));
}

/** `subset` (rows of `index`) in the given order, as a new array. */
export function sortRows(index: UsersIndex, subset: readonly Row[], sort: Sort): Row[] {
  const order = orderFor(index, sort.key);
  let out: Row[];
  if (subset.length === index.rows.length) {
    out = order.slice();
  } else {
    const keep = new Uint8Array(index.rows.length);
    for (const r of subset) keep[r.pos] = 1;
    out = order.filter((r) => keep[r.pos] === 1);
  }
  return sort.dir === "asc" ? out : out.reverse();
}

/** Clicking a header: the same column flips direction, another column starts ascending. */
export function nextSort(current: Sort, key: SortKey): Sort {
  if (current.key === key) return { key, dir: current.dir === "asc" ? "desc" : "asc" };
  return { key, dir: "asc" };
}

export function ariaSort(sort: Sort, key: SortKey): "ascending" | "descending" | "none" {
  if (sort.key !== key) return "none";
  return sort.dir === "asc" ? "ascending" : "descending";
}

/** The rows to render: [start, end) of `count`, the visible ones plus `overscan` on each side. */
export interface VirtualWindow {
  start: number;
  end: number;
  /** Height of the whole list, for the spacer. */
  height: number;
}

export function virtualWindow(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan: number,
): VirtualWindow {
  const height = count * rowHeight;
  if (count === 0) return { start: 0, end: 0, height: 0 };
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, height - viewportHeight));
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil((top + viewportHeight) / rowHeight) - first;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end, height };
}

/** The scrollTop that brings row `index` fully into view (unchanged when it already is). */
export function scrollToRow(index: number, scrollTop: number, viewportHeight: number, rowHeight: number): number {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return bottom - viewportHeight;
  return scrollTop;
}
