import { describe, expect, it } from "vitest";
import type { AdminUser } from "./bindings/AdminUser";
import { user } from "./test-support";
import {
  ariaSort,
  filterRows,
  indexUsers,
  nextSort,
  orderFor,
  scrollToRow,
  sortRows,
  virtualWindow,
} from "./users-table";

const ids = (rows: { user: AdminUser }[]) => rows.map((r) => r.user.user_id);

describe("filter", () => {
  const rows = indexUsers([
    user(1, { display_name: "Ada Lovelace", email: "ada@acme.example" }),
    user(2, { display_name: "Grace Hopper", email: "grace@navy.example" }),
    user(3, { display_name: "Alan Turing", email: "alan@bletchley.example" }),
  ]);

  it("matches name, email or id, case-insensitively, ignoring surrounding spaces", () => {
    expect(ids(filterRows(rows, "  HOPPER "))).toEqual(["u_2"]);
    expect(ids(filterRows(rows, "acme"))).toEqual(["u_1"]);
    expect(ids(filterRows(rows, "u_3"))).toEqual(["u_3"]);
    expect(ids(filterRows(rows, "a"))).toEqual(["u_1", "u_2", "u_3"]);
    expect(ids(filterRows(rows, "nobody"))).toEqual([]);
  });

  it("returns every row, as a copy, for an empty query", () => {
    const all = filterRows(rows, "");
    expect(ids(all)).toEqual(["u_1", "u_2", "u_3"]);
    expect(all).not.toBe(rows.rows);
  });
});

describe("sort", () => {
  const rows = indexUsers([
    user(1, { display_name: "bob", email: "b@x" }),
    user(2, { display_name: "Alice", email: "c@x" }),
    user(3, { display_name: "carol", email: "a@x" }),
  ]);

  it("sorts by name case-insensitively, both ways", () => {
    expect(ids(sortRows(rows, rows.rows, { key: "name", dir: "asc" }))).toEqual(["u_2", "u_1", "u_3"]);
    expect(ids(sortRows(rows, rows.rows, { key: "name", dir: "desc" }))).toEqual(["u_3", "u_1", "u_2"]);
  });

  it("sorts by email", () => {
    expect(ids(sortRows(rows, rows.rows, { key: "email", dir: "asc" }))).toEqual(["u_3", "u_1", "u_2"]);
  });

  it("puts 2FA on first when ascending, ties by name", () => {
    // user 3 has 2FA off (i % 3 === 0)
    expect(ids(sortRows(rows, rows.rows, { key: "two_factor", dir: "asc" }))).toEqual(["u_2", "u_1", "u_3"]);
    expect(ids(sortRows(rows, rows.rows, { key: "two_factor", dir: "desc" }))).toEqual(["u_3", "u_1", "u_2"]);
  });

  it("sorts a filtered subset in the cached order", () => {
    const subset = filterRows(rows, "c@x").concat(filterRows(rows, "bob"));
    expect(ids(sortRows(rows, subset, { key: "name", dir: "asc" }))).toEqual(["u_2", "u_1"]);
    expect(ids(sortRows(rows, subset, { key: "email", dir: "desc" }))).toEqual(["u_2", "u_1"]);
    expect(rows.orders.name).toBeDefined();
  });

  it("sorts times chronologically, missing values last when ascending", () => {
    const r = indexUsers([
      user(1, {}, true),
      user(2, {}, false),
      user(3, {
        two_factor: { enabled: true, phone_masked: "x", enabled_at: "2024-06-01T00:00:00+02:00", last_verified_at: null },
      }),
    ]);
    expect(ids(sortRows(r, r.rows, { key: "enabled_at", dir: "asc" }))).toEqual(["u_3", "u_1", "u_2"]);
    expect(ids(sortRows(r, r.rows, { key: "enabled_at", dir: "desc" }))).toEqual(["u_2", "u_1", "u_3"]);
  });

  it("does not change its input", () => {
    const before = ids(rows.rows);
    sortRows(rows, rows.rows, { key: "name", dir: "desc" });
    expect(ids(rows.rows)).toEqual(before);
    const asc = ids(sortRows(rows, rows.rows, { key: "name", dir: "asc" }));
    sortRows(rows, rows.rows, { key: "name", dir: "desc" });
    expect(ids(sortRows(rows, rows.rows, { key: "name", dir: "asc" }))).toEqual(asc);
  });

  it("flips the direction on the same header and starts ascending on another", () => {
    expect(nextSort({ key: "name", dir: "asc" }, "name")).toEqual({ key: "name", dir: "desc" });
    expect(nextSort({ key: "name", dir: "desc" }, "name")).toEqual({ key: "name", dir: "asc" });
    expect(nextSort({ key: "name", dir: "desc" }, "email")).toEqual({ key: "email", dir: "asc" });
    expect(ariaSort({ key: "name", dir: "desc" }, "name")).toBe("descending");
    expect(ariaSort({ key: "name", dir: "asc" }, "email")).toBe("none");
  });
});

describe("10,000 users", () => {
  const users = Array.from({ length: 10_000 }, (_, i) => user((i * 7919) % 10_000));

  const median = (f: () => void) => {
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      f();
      times.push(performance.now() - t);
    }
    return times.sort((a, b) => a - b)[3];
  };

  it("sorts correctly", () => {
    const index = indexUsers(users);
    const sorted = sortRows(index, index.rows, { key: "name", dir: "asc" });
    expect(sorted[0].user.display_name).toBe("User 00000");
    expect(sorted[9999].user.display_name).toBe("User 09999");
    expect(filterRows(index, "user1").length).toBe(1111); // 1, 10–19, 100–199, 1000–1999
  });

  it("filters and re-sorts (a keystroke, a header click) in well under a frame", () => {
    const index = indexUsers(users);
    for (const k of ["name", "email", "last_verified"] as const) orderFor(index, k);
    // Typical: ~1 ms. The bound leaves room for a loaded CI machine.
    expect(median(() => sortRows(index, filterRows(index, "user1"), { key: "email", dir: "desc" }))).toBeLessThan(8);
    expect(median(() => sortRows(index, filterRows(index, ""), { key: "last_verified", dir: "asc" }))).toBeLessThan(8);
    expect(median(() => sortRows(index, filterRows(index, "acme"), { key: "name", dir: "desc" }))).toBeLessThan(8);
  });

  it("orders a column the first time without anything quadratic", () => {
    // Once per column and load (the contract screen warms the columns when
    // idle); ~10 ms on an idle laptop, so this bound only catches a blow-up.
    expect(median(() => orderFor(indexUsers(users), "last_verified"))).toBeLessThan(100);
  });
});

describe("virtual window", () => {
  it("renders the visible rows plus overscan at the top", () => {
    expect(virtualWindow(0, 400, 40, 10_000, 5)).toEqual({ start: 0, end: 15, height: 400_000 });
  });

  it("follows the scroll position, including a partly visible row", () => {
    // 1000 px down: rows 25..35 visible (row 35 partly), overscan 5 each side
    expect(virtualWindow(1000, 400, 40, 10_000, 5)).toEqual({ start: 20, end: 40, height: 400_000 });
    expect(virtualWindow(1020, 400, 40, 10_000, 5)).toEqual({ start: 20, end: 41, height: 400_000 });
  });

  it("clamps at the bottom and past the end", () => {
    const w = virtualWindow(10_000_000, 400, 40, 10_000, 5);
    expect(w.end).toBe(10_000);
    expect(w.start).toBe(10_000 - 10 - 5);
  });

  it("handles short and empty lists", () => {
    expect(virtualWindow(0, 400, 40, 3, 5)).toEqual({ start: 0, end: 3, height: 120 });
    expect(virtualWindow(0, 400, 40, 0, 5)).toEqual({ start: 0, end: 0, height: 0 });
  });

  it("scrolls a row into view only when it is not", () => {
    expect(scrollToRow(5, 0, 400, 40)).toBe(0);
    expect(scrollToRow(10, 0, 400, 40)).toBe(40);
    expect(scrollToRow(2, 200, 400, 40)).toBe(80);
  });
});
