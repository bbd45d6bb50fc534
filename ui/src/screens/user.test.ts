import { afterEach, describe, expect, it } from "vitest";
import type { Notification } from "../bindings/Notification";
import type { UserView } from "../bindings/UserView";
import { fakeCtx, tick, type, user } from "../test-support";
import { currentModal } from "../widgets";
import { userScreen } from "./user";

const note = (i: number, over: Partial<Notification> = {}): Notification => ({
  notification_id: `n_${i}`,
  channel: "sms",
  purpose: "login_code",
  recipient_masked: "+49 ••• ••42",
  status: "sent",
  attempts: 1,
  last_error: null,
  created_at: "2026-03-05T10:00:00Z",
  sent_at: "2026-03-05T10:00:01Z",
  ...over,
});

const ada = user(1, { display_name: "Ada Lovelace", email: "ada@acme.example" }, true);
const view = (over: Partial<UserView> = {}): UserView => ({
  user: ada,
  contract_name: "Acme Corp",
  notifications: {
    items: [
      note(1),
      note(2, {
        channel: "email",
        purpose: "two_factor_disabled_by_manager",
        recipient_masked: "a••@acme.example",
        status: "failed",
        attempts: 5,
        last_error: "SMTP 550 mailbox unavailable",
        sent_at: null,
      }),
    ],
    next_cursor: "c1",
  },
  ...over,
});

afterEach(() => {
  currentModal()?.close(true);
  document.body.replaceChildren();
});

async function setup(handlers: Parameters<typeof fakeCtx>[0]) {
  const f = fakeCtx(handlers);
  const screen = userScreen(f.ctx, "u_1");
  document.body.append(screen.root);
  await tick();
  const q = <T extends Element = HTMLElement>(sel: string) => document.querySelector(sel) as T;
  return { ...f, screen, q };
}

describe("user screen", () => {
  it("shows the 2FA card and the notification timeline in words", async () => {
    const s = await setup({ open_user: () => view() });
    expect(s.core.calls[0]).toEqual(["open_user", { userId: "u_1" }]);
    expect(s.q("#user").dataset.ready).toBe("true");
    expect(s.q("#two-factor-status").textContent).toBe("On");
    const items = Array.from(document.querySelectorAll("#timeline li"));
    expect(items).toHaveLength(2);
    expect(items[0].textContent).toContain("Sign-in code");
    expect(items[0].textContent).toContain("SMS to +49 ••• ••42 · 1 attempt");
    expect(items[1].textContent).toContain("2FA turned off by an account manager");
    expect(items[1].textContent).toContain("Email to a••@acme.example · 5 attempts");
    expect(items[1].textContent).toContain("Failed");
    expect(items[1].textContent).toContain("Last error: SMTP 550 mailbox unavailable");
    expect(items[1].textContent).toContain("not delivered");
    expect(s.q("#disable-user").hidden).toBe(false);
  });

  it("loads more notifications while there is a cursor", async () => {
    const s = await setup({
      open_user: () => view(),
      more_notifications: () => ({ items: [note(3, { purpose: "enable_code" })], next_cursor: null }),
    });
    const more = s.q<HTMLButtonElement>("#load-more");
    more.click();
    await tick();
    expect(s.core.calls[1]).toEqual(["more_notifications", { userId: "u_1", cursor: "c1" }]);
    expect(document.querySelectorAll("#timeline li")).toHaveLength(3);
    expect(document.querySelector("#timeline li:last-child")!.textContent).toContain("Code to turn 2FA on");
    expect(more.hidden).toBe(true);
  });

  it("hides Disable when 2FA is already off", async () => {
    const off = user(3, {}, false);
    const s = await setup({ open_user: () => view({ user: off, notifications: { items: [], next_cursor: null } }) });
    expect(s.q("#two-factor-status").textContent).toBe("Off");
    expect(s.q("#disable-user").hidden).toBe(true);
    expect(s.q("#load-more").hidden).toBe(true);
    expect(s.q("#user").textContent).toContain("No notifications were sent to this user.");
  });

  it("disables 2FA for the user with a reason and shows it off afterwards", async () => {
    let loads = 0;
    const offAda = { ...ada, two_factor: { enabled: false, phone_masked: null, enabled_at: null, last_verified_at: null } };
    const s = await setup({
      open_user: () => (loads++ === 0 ? view() : view({ user: offAda })),
      disable_user: () => ({ user_id: "u_1", changed: true, two_factor: offAda.two_factor }),
    });
    s.q<HTMLButtonElement>("#disable-user").click();
    expect(document.querySelector("#disable-confirm-id")).toBeNull();
    const submit = s.q<HTMLButtonElement>("#disable-submit");
    expect(submit.disabled).toBe(true);
    type(s.q<HTMLTextAreaElement>("#disable-reason"), "  Lost phone, ticket 99  ");
    expect(s.q("#disable-counter").textContent).toBe("21 / 500");
    submit.click();
    await tick();
    await tick();
    expect(s.core.calls.find(([c]) => c === "disable_user")![1]).toEqual({ userId: "u_1", reason: "Lost phone, ticket 99" });
    expect(s.q("#disable-result").textContent).toBe("2FA turned off for 1 user.");
    expect(s.q("#two-factor-status").textContent).toBe("Off");
    expect(s.q("#disable-user").hidden).toBe(true);
  });

  it("shows 2FA off from the disable's answer even when the refresh fails", async () => {
    let loads = 0;
    const s = await setup({
      open_user: () => {
        if (loads++ === 0) return view();
        throw { code: "server_unreachable", message: "The server did not answer." };
      },
      disable_user: () => ({
        user_id: "u_1",
        changed: true,
        two_factor: { enabled: false, phone_masked: null, enabled_at: null, last_verified_at: null },
      }),
    });
    s.q<HTMLButtonElement>("#disable-user").click();
    type(s.q<HTMLTextAreaElement>("#disable-reason"), "lost phone");
    s.q<HTMLButtonElement>("#disable-submit").click();
    await tick();
    await tick();
    expect(s.q("#two-factor-status").textContent).toBe("Off");
    expect(s.q("#disable-user").hidden).toBe(true);
    expect(s.q("#user [role=alert]").textContent).toContain("The user could not be refreshed. The server did not answer.");
    expect(document.querySelectorAll("#timeline li")).toHaveLength(2); // the history stays
  });

  it("shows a refused disable in the dialog and lets the manager retry", async () => {
    const s = await setup({
      open_user: () => view(),
      disable_user: () => {
        throw { code: "rate_limited", message: "The server is limiting requests. Retry in 12 s." };
      },
    });
    s.q<HTMLButtonElement>("#disable-user").click();
    type(s.q<HTMLTextAreaElement>("#disable-reason"), "lost phone");
    s.q<HTMLButtonElement>("#disable-submit").click();
    await tick();
    expect(s.q("#disable-dialog [role=alert]").textContent).toContain("Retry in 12 s.");
    expect(s.q<HTMLButtonElement>("#disable-submit").disabled).toBe(false);
    expect(s.q("#disable-result").hidden).toBe(true);
  });

  it("says so when the user does not exist, and offers sign-in on a revoked token", async () => {
    const s = await setup({
      open_user: () => {
        throw { code: "not_found", message: "No user u_1 among your contracts." };
      },
    });
    expect(s.q("#user h1").textContent).toBe("User not found");
    document.body.replaceChildren();
    const t = await setup({
      open_user: () => {
        throw { code: "unauthorized", message: "Your token was revoked." };
      },
    });
    (t.q("#user .sign-in-again") as HTMLButtonElement).click();
    expect(t.signIns()).toBe(1);
  });
});
