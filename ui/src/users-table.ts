// The contract screen's users table as pure functions: indexing, filtering,
// sorting and the virtual window. A contract can have 10,000 users, so the
// work per keystroke or header click must stay far below one frame (16 ms):
// comparison keys and the filter haystack are computed once per load, and
// sorting compares plain strings (no localeCompare per comparison).
import type { AdminUser } from "./bindings/AdminUser";

export type SortKey = "name" | "email" | "two_factor" | "phone" | "enabled_at" | "last_verified";
export type SortDir = "asc" | "desc";
export interface Sort {
  key: SortKey;
  dir: SortDir;
}

/** A user with its precomputed comparison keys. */
export interface Row {
  user: AdminUser;
  hay: string;
  keys: Record<SortKey, string>;
}

export const COLUMNS: ReadonlyArray<{ key: SortKey; label: string }> = [
  { key: "name", label: "Name" },
  { key: "email", label: "Email" },
  { key: "two_factor", label: "2FA" },
  { key: "phone", label: "Phone" },
  { key: "enabled_at", label: "Enabled at" },
  { key: "last_verified", label: "Last verified" },
];

// Missing values (no phone, never verified) sort after every present value
// in ascending order.
const MISSING = "\uffff";

/** Instants compare as strings once normalised to UTC milliseconds, zero-padded. */
function timeKey(iso: string | null): string {
  if (!iso) return MISSING;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? MISSING : String(t).padStart(16, "0");
}

export function indexUsers(users: readonly AdminUser[]): Row[] {
  return users.map((user) => {
    const tf = user.two_factor;
    const name = user.display_name.toLowerCase();
    const email = user.email.toLowerCase();
    return {
      user,
      hay: `${name}\n${email}\n${user.user_id.toLowerCase()}`,
      keys: {
        name,
        email,
        // "On" first in ascending order: that is what a manager looks for.
        two_factor: tf.enabled ? "0" : "1",
        phone: tf.phone_masked ?? MISSING,
        enabled_at: timeKey(tf.enabled_at),
        last_verified: timeKey(tf.last_verified_at),
      },
    };
  });
}

/** Rows whose name, email or id contains the query (case-insensitive). */
export function filterRows(rows: readonly Row[], query: string): Row[] {
  const q = query.trim().toLowerCase();
  if (!q) return rows.slice();
  return rows.filter((r) => r.hay.includes(q));
}

/** A sorted copy; ties fall back to the name and then the id, so the order is stable and total. */
export function sortRows(rows: readonly Row[], sort: Sort): Row[] {
  const sign = sort.dir === "asc" ? 1 : -1;
  const k = sort.key;
  return rows.slice().sort((a, b) => {
    const x = a.keys[k];
    const y = b.keys[k];
    if (x !== y) return x < y ? -sign : sign;
    if (a.keys.name !== b.keys.name) return a.keys.name < b.keys.name ? -1 : 1;
    return a.user.user_id < b.user.user_id ? -1 : a.user.user_id > b.user.user_id ? 1 : 0;
  });
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
