import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ContractHit } from "../bindings/ContractHit";
import { fakeCtx, key, type, user } from "../test-support";
import { keepActive, moveActive, searchScreen, USER_SEARCH_DELAY_MS } from "./search";

const acme: ContractHit = {
  contract_id: "C-10001",
  name: "Acme Corp",
  users: 1082,
  users_with_two_factor: 732,
  updated_at: "2026-03-01T00:00:00Z",
};

describe("moveActive", () => {
  it("walks down and up, wrapping at both ends", () => {
    expect(moveActive(-1, "ArrowDown", 3)).toBe(0);
    expect(moveActive(0, "ArrowDown", 3)).toBe(1);
    expect(moveActive(2, "ArrowDown", 3)).toBe(0);
    expect(moveActive(0, "ArrowUp", 3)).toBe(2);
    expect(moveActive(-1, "ArrowUp", 3)).toBe(2);
    expect(moveActive(2, "ArrowUp", 3)).toBe(1);
  });

  it("pages by five without wrapping and ignores other keys", () => {
    expect(moveActive(0, "PageDown", 20)).toBe(5);
    expect(moveActive(18, "PageDown", 20)).toBe(19);
    expect(moveActive(3, "PageUp", 20)).toBe(0);
    expect(moveActive(1, "a", 3)).toBeNull();
    expect(moveActive(-1, "ArrowDown", 0)).toBe(-1);
  });

  it("keeps the same option active when results change", () => {
    const a = { kind: "contract" as const, id: "C-1", title: "", detail: "" };
    const b = { kind: "user" as const, id: "u_1", title: "", detail: "" };
    expect(keepActive(b, [a, b])).toBe(1);
    expect(keepActive(b, [a])).toBe(0);
    expect(keepActive(undefined, [])).toBe(-1);
  });
});

describe("search screen", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    document.body.replaceChildren();
  });

  const setup = (handlers: Parameters<typeof fakeCtx>[0]) => {
    const f = fakeCtx({ recent_items: () => [], list_contracts: () => [], ...handlers });
    const screen = searchScreen(f.ctx, { query: "" });
    document.body.append(screen.root);
    const input = screen.root.querySelector("#search") as HTMLInputElement;
    const options = () => Array.from(screen.root.querySelectorAll<HTMLElement>("#results [role=option]"));
    return { ...f, screen, input, options };
  };

  it("shows contracts at once and users after the debounce, in one listbox with group labels", async () => {
    const s = setup({
      search_contracts: () => [acme],
      search_users: () => [user(7, { display_name: "Ada Lovelace", email: "ada@acme.example" })],
    });
    type(s.input, "ac");
    await vi.advanceTimersByTimeAsync(0);
    expect(s.options().map((o) => [o.dataset.kind, o.dataset.id])).toEqual([["contract", "C-10001"]]);
    expect(s.options()[0].textContent).toContain("732 of 1,082 users (68%)");
    expect(s.core.calls.filter(([c]) => c === "search_users")).toEqual([]);
    expect(s.screen.root.querySelector("#search-status")!.textContent).toBe("Searching users…");

    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    expect(s.options().map((o) => [o.dataset.kind, o.dataset.id])).toEqual([
      ["contract", "C-10001"],
      ["user", "u_7"],
    ]);
    const labels = Array.from(s.screen.root.querySelectorAll("#results [role=group]")).map(
      (g) => document.getElementById(g.getAttribute("aria-labelledby")!)!.textContent,
    );
    expect(labels).toEqual(["Contracts", "Users"]);
    expect(s.core.calls.find(([c]) => c === "search_users")![1]).toEqual({ query: "ac", limit: 20 });
  });

  it("asks the server once per pause in typing and ignores stale answers", async () => {
    const resolvers: Array<(v: unknown) => void> = [];
    const s = setup({
      search_contracts: () => [],
      search_users: () => new Promise((r) => resolvers.push(r)),
    });
    type(s.input, "ad");
    await vi.advanceTimersByTimeAsync(50);
    type(s.input, "ada");
    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    type(s.input, "adam");
    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    const asked = s.core.calls.filter(([c]) => c === "search_users").map(([, a]) => a.query);
    expect(asked).toEqual(["ada", "adam"]); // "ad" was superseded before its debounce ended
    resolvers[1]([user(2, { email: "adam@x" })]);
    await vi.advanceTimersByTimeAsync(0);
    resolvers[0]([user(1, { email: "ada@x" })]); // the older answer arrives last
    await vi.advanceTimersByTimeAsync(0);
    expect(s.options().map((o) => o.dataset.id)).toEqual(["u_2"]);
  });

  it("moves the active option with the arrows (aria-activedescendant) and opens it with Enter", async () => {
    const s = setup({
      search_contracts: () => [acme, { ...acme, contract_id: "C-2", name: "Acme Two" }],
      search_users: () => [user(5)],
    });
    type(s.input, "acme");
    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    expect(s.input.getAttribute("aria-activedescendant")).toBe(s.options()[0].id);
    key(s.input, "ArrowDown");
    key(s.input, "ArrowDown");
    expect(s.input.getAttribute("aria-activedescendant")).toBe(s.options()[2].id);
    expect(s.options()[2].getAttribute("aria-selected")).toBe("true");
    expect(s.options()[0].getAttribute("aria-selected")).toBe("false");
    key(s.input, "ArrowDown"); // wraps
    key(s.input, "ArrowUp"); // back to the user
    key(s.input, "Enter");
    expect(s.opened).toEqual([{ kind: "user", id: "u_5" }]);
    s.options()[1].click();
    expect(s.opened[1]).toEqual({ kind: "contract", id: "C-2" });
  });

  it("shows the recently viewed items when the box is empty", async () => {
    const s = setup({
      recent_items: () => [
        { kind: "user", item_id: "u_9", label: "Grace Hopper", viewed_at: "2026-03-05T11:55:00Z" },
        { kind: "contract", item_id: "C-10001", label: "Acme Corp", viewed_at: "2026-03-04T12:00:00Z" },
      ],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.options().map((o) => [o.dataset.kind, o.dataset.id])).toEqual([
      ["user", "u_9"],
      ["contract", "C-10001"],
    ]);
    expect(s.options()[0].textContent).toContain("viewed 5 min ago");
    key(s.input, "Enter");
    expect(s.opened).toEqual([{ kind: "user", id: "u_9" }]);
  });

  it("lists the manager's contracts under the recent items while the box is empty", async () => {
    const s = setup({
      recent_items: () => [{ kind: "user", item_id: "u_9", label: "Grace Hopper", viewed_at: "2026-03-05T11:55:00Z" }],
      list_contracts: () => [acme, { ...acme, contract_id: "C-10002", name: "Birchwood Dental" }],
      search_contracts: () => [acme],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.core.calls.find(([cmd]) => cmd === "list_contracts")).toEqual(["list_contracts", { limit: 50 }]);
    expect(s.options().map((o) => o.dataset.id)).toEqual(["u_9", "C-10001", "C-10002"]);
    expect(s.screen.root.textContent).toContain("Your contracts");
    key(s.input, "ArrowDown");
    key(s.input, "ArrowDown");
    key(s.input, "Enter");
    expect(s.opened).toEqual([{ kind: "contract", id: "C-10002" }]);
    type(s.input, "acme"); // typing replaces both lists with the matches
    await vi.advanceTimersByTimeAsync(0);
    expect(s.options().map((o) => o.dataset.id)).toEqual(["C-10001"]);
    expect(s.screen.root.textContent).not.toContain("Your contracts");
  });

  it("shows a user search failure inline and keeps the contract hits", async () => {
    const s = setup({
      search_contracts: () => [acme],
      search_users: () => {
        throw { code: "unauthorized", message: "The server no longer accepts your token." };
      },
    });
    type(s.input, "acme");
    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    expect(s.options().map((o) => o.dataset.id)).toEqual(["C-10001"]);
    const alert = s.screen.root.querySelector("[role=alert]")!;
    expect(alert.textContent).toContain("The server no longer accepts your token.");
    expect(alert.textContent).not.toContain("unauthorized");
    (alert.querySelector(".sign-in-again") as HTMLButtonElement).click();
    expect(s.signIns()).toBe(1);
  });

  it("says when nothing matches, and Escape clears the box", async () => {
    const s = setup({ search_contracts: () => [], search_users: () => [] });
    type(s.input, "zzz");
    await vi.advanceTimersByTimeAsync(USER_SEARCH_DELAY_MS);
    expect(s.screen.root.querySelector("#search-status")!.textContent).toBe("Nothing matches “zzz”.");
    key(s.input, "Escape");
    expect(s.input.value).toBe("");
  });
});
