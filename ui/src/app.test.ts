import { afterEach, describe, expect, it } from "vitest";
import { startApp } from "./app";
import type { AppInfo } from "./bindings/AppInfo";
import { fakeApi, key, NOW, session, tick, type, user } from "./test-support";
import { currentModal } from "./widgets";

const info: AppInfo = {
  version: "0.3.1",
  keyring: { available: true, detail: null },
  session,
  last_server_url: session.server_url,
};

const contractView = {
  contract: { contract_id: "C-10001", name: "Acme Corp", users: 3, users_with_two_factor: 2, updated_at: "2026-03-01T00:00:00Z" },
  users: [user(1), user(2), user(3)],
};

function boot(handlers: Record<string, (a: Record<string, unknown>) => unknown> = {}, start: AppInfo = info) {
  const root = document.createElement("div");
  document.body.append(root);
  const { api, core } = fakeApi({
    sync_contracts: () => ({ received: 2, total: 31 }),
    recent_items: () => [],
    search_contracts: () => [
      { contract_id: "C-10001", name: "Acme Corp", users: 3, users_with_two_factor: 2, updated_at: "2026-03-01T00:00:00Z" },
    ],
    search_users: () => [],
    open_contract: () => contractView,
    open_user: (a) => ({ user: user(Number(String(a.userId).slice(2))), contract_name: "Acme Corp", notifications: { items: [], next_cursor: null } }),
    ...handlers,
  });
  startApp(root, api, start, () => NOW);
  const q = <T extends Element = HTMLElement>(sel: string) => document.querySelector(sel) as T;
  return { root, core, q };
}

afterEach(() => {
  currentModal()?.close(true);
  document.body.replaceChildren();
});

describe("app shell", () => {
  it("starts on Search with the header and syncs the contract index without blocking", async () => {
    const s = boot();
    expect(s.q("#search")).not.toBeNull();
    expect(s.q(".app-header").textContent).toContain("Ada");
    expect(s.q(".app-header").textContent).toContain("https://tg.example.com");
    expect(s.q("#sync-status").textContent).toBe("Updating contract index…");
    await tick();
    expect(s.q("#sync-status").textContent).toBe("Contract index up to date · 31 contracts");
    expect(s.q<HTMLButtonElement>("#back").disabled).toBe(true);
  });

  it("offers an export of all contracts from Search", async () => {
    const s = boot();
    await tick();
    s.q<HTMLButtonElement>("#export-all").click();
    expect(Array.from(s.q<HTMLSelectElement>("#export-scope").options).map((o) => o.value)).toEqual(["all"]);
  });

  it("shows a failed sync inline and keeps Search usable", async () => {
    const s = boot({
      sync_contracts: () => {
        throw { code: "server_unreachable", message: "The server at https://tg.example.com did not answer." };
      },
    });
    await tick();
    expect(s.q("#sync-status [role=alert]").textContent).toContain("did not answer");
    expect(s.q<HTMLInputElement>("#search").disabled).toBe(false);
  });

  it("goes Search → Contract → User and back with the Back button and Alt+Left", async () => {
    const s = boot();
    await tick();
    type(s.q<HTMLInputElement>("#search"), "acme");
    await tick();
    key(s.q("#search"), "Enter");
    await tick();
    expect(s.q("#home")).toBeNull();
    expect(s.q("#contract").dataset.ready).toBe("true");
    type(s.q<HTMLInputElement>("#users-filter"), "user2");
    s.q<HTMLButtonElement>("[data-key=email] button").click();
    s.q<HTMLElement>("[data-user-id=u_2]").click();
    await tick();
    expect(s.q("#contract")).toBeNull();
    expect(s.q("#user").dataset.ready).toBe("true");
    key(document.body, "ArrowLeft", { altKey: true });
    await tick();
    expect(s.q("#contract")).not.toBeNull();
    // The table is as it was left.
    expect(s.q<HTMLInputElement>("#users-filter").value).toBe("user2");
    expect(s.q("[data-key=email]").getAttribute("aria-sort")).toBe("ascending");
    expect(Array.from(document.querySelectorAll<HTMLElement>("[data-user-id]")).map((r) => r.dataset.userId)).toEqual(["u_2"]);
    s.q<HTMLButtonElement>("#back").click();
    expect(s.q("#home")).not.toBeNull();
    expect(s.q<HTMLInputElement>("#search").value).toBe("acme"); // the query survives
    expect(s.q<HTMLButtonElement>("#back").disabled).toBe(true);
  });

  it("Ctrl+K brings the search box from anywhere, closing a dialog first", async () => {
    const s = boot();
    await tick();
    s.core.calls.length = 0;
    type(s.q<HTMLInputElement>("#search"), "acme");
    await tick();
    key(s.q("#search"), "Enter");
    await tick();
    s.q<HTMLButtonElement>("#disable-contract").click();
    expect(s.q("#disable-dialog")).not.toBeNull();
    key(s.q("#disable-reason"), "k", { ctrlKey: true });
    expect(s.q("#disable-dialog")).toBeNull();
    expect(document.activeElement).toBe(s.q("#search"));
    expect(s.q("#contract")).toBeNull();
    s.q<HTMLButtonElement>("#back").click(); // back to where it was
    await tick();
    expect(s.q("#contract")).not.toBeNull();
  });

  it("shows settings with the export history and signs out only after confirming", async () => {
    let signedOut = 0;
    const s = boot({
      export_history: () => [
        {
          export_id: 1,
          scope: "contract:C-10001",
          file_path: "/home/ada/tollgate-audit-contract-C-10001-2026-03-05.csv",
          rows: 12345,
          status: "completed",
          started_at: "2026-03-05T10:00:00Z",
          finished_at: "2026-03-05T10:00:09Z",
        },
      ],
      sign_out: () => {
        signedOut++;
        return null;
      },
    });
    await tick();
    s.q<HTMLButtonElement>("#open-settings").click();
    await tick();
    const dialog = s.q("#settings-dialog");
    expect(dialog.textContent).toContain("Ada (ada@example.com)");
    expect(dialog.textContent).toContain("In the system keyring");
    expect(dialog.textContent).toContain("0.3.1");
    expect(dialog.textContent).toContain("Contract C-10001");
    expect(dialog.textContent).toContain("12,345");
    s.q<HTMLButtonElement>("#sign-out").click();
    expect(signedOut).toBe(0);
    expect(s.q("#sign-out-confirm")).not.toBeNull();
    s.q<HTMLButtonElement>("#sign-out-confirm").click();
    await tick();
    expect(signedOut).toBe(1);
    expect(s.q("#settings-dialog")).toBeNull();
    expect(s.q("#token")).not.toBeNull(); // the Connect screen
    expect(s.q("#search")).toBeNull();
  });

  it("goes to Connect on Sign in again after a revoked token", async () => {
    const s = boot({
      open_contract: () => {
        throw { code: "unauthorized", message: "The server no longer accepts your token." };
      },
    });
    await tick();
    type(s.q<HTMLInputElement>("#search"), "acme");
    await tick();
    key(s.q("#search"), "Enter");
    await tick();
    s.q<HTMLButtonElement>("#contract .sign-in-again").click();
    expect(s.q("#server-url")).not.toBeNull();
    expect(s.q<HTMLInputElement>("#server-url").value).toBe("https://tg.example.com");
  });

  it("starts on Connect without a session, then opens Search after signing in", async () => {
    const s = boot({ connect: () => session }, { ...info, session: null });
    expect(s.q("#search")).toBeNull();
    s.q<HTMLInputElement>("#token").value = "tgm_secret";
    s.q("form").dispatchEvent(new Event("submit", { cancelable: true }));
    await tick();
    expect(s.q("#search")).not.toBeNull();
  });
});
