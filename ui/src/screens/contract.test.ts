import { afterEach, describe, expect, it } from "vitest";
import type { ContractView } from "../bindings/ContractView";
import { fakeCtx, key, tick, type, user } from "../test-support";
import { currentModal } from "../widgets";
import { contractScreen } from "./contract";

const summary = { contract_id: "C-10001", name: "Acme Corp", users: 1082, users_with_two_factor: 732, updated_at: "2026-03-01T00:00:00Z" };

function view(n: number, over: Partial<ContractView["contract"]> = {}): ContractView {
  return { contract: { ...summary, ...over }, users: Array.from({ length: n }, (_, i) => user(i)) };
}

afterEach(() => {
  currentModal()?.close(true);
  document.body.replaceChildren();
});

async function setup(handlers: Parameters<typeof fakeCtx>[0]) {
  const f = fakeCtx(handlers);
  const screen = contractScreen(f.ctx, "C-10001");
  document.body.append(screen.root);
  await tick();
  const q = <T extends Element = HTMLElement>(sel: string) => document.querySelector(sel) as T;
  const rows = () => Array.from(document.querySelectorAll<HTMLElement>("#users-table [data-user-id]"));
  return { ...f, screen, q, rows };
}

describe("contract screen", () => {
  it("shows the contract and its 2FA share once loaded", async () => {
    const s = await setup({ open_contract: () => view(20) });
    expect(s.core.calls[0]).toEqual(["open_contract", { contractId: "C-10001" }]);
    expect(s.q("#contract").dataset.ready).toBe("true");
    expect(s.q("#contract-name").textContent).toBe("Acme Corp");
    expect(s.q("#contract").textContent).toContain("732 of 1,082 users (68%) with 2FA");
    expect(s.rows()).toHaveLength(20);
    const first = s.rows()[0];
    expect(first.dataset.userId).toBe("u_0");
    expect(first.querySelector(".badge")!.textContent).toBe("Off"); // user 0: i % 3 === 0
    expect(s.rows()[1].querySelector(".badge")!.textContent).toBe("On");
  });

  it("renders only a window of 10,000 rows and follows the scroll", async () => {
    const s = await setup({ open_contract: () => view(10_000) });
    const grid = s.q("#users-table");
    expect(grid.getAttribute("aria-rowcount")).toBe("10001");
    expect(s.rows().length).toBeLessThan(40);
    expect(s.q(".tbody").style.height).toBe(`${10_000 * 40}px`);
    grid.scrollTop = 4000 * 40;
    grid.dispatchEvent(new Event("scroll"));
    await new Promise((r) => requestAnimationFrame(r));
    const ids = s.rows().map((r) => r.getAttribute("aria-rowindex"));
    expect(ids).toContain("4002"); // row 4000 (header is row 1)
    expect(s.rows().length).toBeLessThan(40);
  });

  it("keeps the row under the pointer when focus makes it active (a first click opens the user)", async () => {
    const s = await setup({ open_contract: () => view(20), open_user: () => null });
    const before = s.rows();
    const third = before[2];
    // A mouse click focuses the grid first (mousedown), which activates a row.
    s.q("#users-table").dispatchEvent(new FocusEvent("focus"));
    expect(s.rows()).toEqual(before); // the same nodes, restyled in place
    expect(before[0].classList.contains("active")).toBe(true);
    expect(before[0].getAttribute("aria-selected")).toBe("true");
    third.querySelector(".badge")!.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(third.isConnected).toBe(true);
    expect(s.opened).toContainEqual({ kind: "user", id: "u_2" });
  });

  it("filters by name, email or id and sorts by clicking a header (aria-sort)", async () => {
    const s = await setup({ open_contract: () => view(30) });
    type(s.q<HTMLInputElement>("#users-filter"), "user2");
    expect(s.rows().map((r) => r.dataset.userId)).toEqual(["u_2", "u_20", "u_21", "u_22", "u_23", "u_24", "u_25", "u_26", "u_27", "u_28", "u_29"]);
    expect(s.q("#contract").textContent).toContain("11 of 30 users match");
    const nameHeader = s.q("[role=columnheader][data-key=name]");
    expect(nameHeader.getAttribute("aria-sort")).toBe("ascending");
    (nameHeader.querySelector("button") as HTMLButtonElement).click();
    expect(nameHeader.getAttribute("aria-sort")).toBe("descending");
    expect(s.rows()[0].dataset.userId).toBe("u_29");
    const tfHeader = s.q("[role=columnheader][data-key=two_factor]");
    (tfHeader.querySelector("button") as HTMLButtonElement).click();
    expect(tfHeader.getAttribute("aria-sort")).toBe("ascending");
    expect(nameHeader.getAttribute("aria-sort")).toBe("none");
    expect(s.rows()[0].querySelector(".badge")!.textContent).toBe("On");
    type(s.q<HTMLInputElement>("#users-filter"), "nobody");
    expect(s.rows()).toHaveLength(0);
    expect(s.q("#contract").textContent).toContain("No user matches the filter.");
  });

  it("opens a user by click, and by arrows and Enter on the table", async () => {
    const s = await setup({ open_contract: () => view(5) });
    s.rows()[3].querySelector<HTMLElement>(".col-email")!.click();
    expect(s.opened).toEqual([{ kind: "user", id: "u_3" }]);
    const grid = s.q("#users-table");
    grid.focus();
    grid.dispatchEvent(new FocusEvent("focus"));
    expect(grid.getAttribute("aria-activedescendant")).toBe("user-row-0");
    key(grid, "ArrowDown");
    key(grid, "ArrowDown");
    expect(grid.getAttribute("aria-activedescendant")).toBe("user-row-2");
    key(grid, "End");
    key(grid, "Enter");
    expect(s.opened[1]).toEqual({ kind: "user", id: "u_4" });
  });

  it("says so when the contract does not exist", async () => {
    const s = await setup({
      open_contract: () => {
        throw { code: "not_found", message: "No contract C-10001 among your contracts." };
      },
    });
    expect(s.q("#contract h1").textContent).toBe("Contract not found");
    expect(s.q("#contract [role=alert]").textContent).toContain("No contract C-10001 among your contracts.");
    expect(s.q("#contract").dataset.ready).toBe("false");
  });

  it("disables 2FA for the whole contract once the id is typed, then shows the result and refreshes", async () => {
    let loads = 0;
    const s = await setup({
      open_contract: () => (loads++ === 0 ? view(3) : view(3, { users_with_two_factor: 0 })),
      disable_contract: () => ({ contract_id: "C-10001", disabled: 732 }),
    });
    s.q<HTMLButtonElement>("#disable-contract").click();
    const statement = s.q("#disable-statement").textContent;
    expect(statement).toBe(
      "2FA will be turned off for 732 users of Acme Corp (C-10001). Each user gets an email. " +
        "They can sign in with their password alone until they turn 2FA on again.",
    );
    const submit = s.q<HTMLButtonElement>("#disable-submit");
    expect(submit.disabled).toBe(true);
    type(s.q<HTMLTextAreaElement>("#disable-reason"), "Customer migrates to SSO (ticket 4711)");
    expect(submit.disabled).toBe(true);
    type(s.q<HTMLInputElement>("#disable-confirm-id"), "C-1000");
    expect(submit.disabled).toBe(true);
    type(s.q<HTMLInputElement>("#disable-confirm-id"), "C-10001");
    expect(submit.disabled).toBe(false);
    submit.click();
    await tick();
    await tick();
    expect(s.core.calls.find(([c]) => c === "disable_contract")![1]).toEqual({
      contractId: "C-10001",
      reason: "Customer migrates to SSO (ticket 4711)",
      typedContractId: "C-10001",
    });
    expect(s.q("#disable-result").textContent).toBe("2FA turned off for 732 users.");
    expect(loads).toBe(2);
    expect(s.q("#contract").textContent).toContain("0 of 1,082 users (0%) with 2FA");
  });
});
