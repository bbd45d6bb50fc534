// User: who they are, their 2FA status card, the notification history as a
// timeline (newest first, "Load more" while the server has more), and the
// actions Disable 2FA for this user and Export audit CSV.
import type { CommandError } from "../bindings/CommandError";
import type { Notification } from "../bindings/Notification";
import type { TwoFactorStatus } from "../bindings/TwoFactorStatus";
import type { UserView } from "../bindings/UserView";
import type { Ctx, Screen } from "../context";
import { h } from "../dom";
import { channelLabel, formatLocalTime, plural, purposeWords, relativeTime, statusLabel } from "../format";
import { errorBox, settleFocus } from "../widgets";
import { openDisableDialog } from "./disable";
import { openExportDialog } from "./export";

/** One timeline entry: what went out, to where, how it went, when. */
export function timelineItem(n: Notification, now: Date): HTMLLIElement {
  // Words, not emoji: a desktop without an emoji font shows boxes.
  const icon = n.channel === "sms" ? "SMS" : n.channel === "email" ? "Email" : "•";
  const sent = n.sent_at
    ? `sent ${formatLocalTime(n.sent_at)}`
    : n.status === "failed"
      ? "not delivered"
      : "not sent yet";
  return h(
    "li",
    { class: `note status-${n.status}`, "data-notification-id": n.notification_id },
    h("span", { class: `channel channel-${n.channel}`, "aria-hidden": "true" }, icon),
    h(
      "div",
      { class: "note-body" },
      h(
        "div",
        { class: "note-head" },
        h("strong", {}, purposeWords(n.purpose)),
        h("span", { class: `badge status ${n.status}` }, statusLabel(n.status)),
      ),
      h(
        "div",
        { class: "muted" },
        `${channelLabel(n.channel)} to ${n.recipient_masked} · ${plural(n.attempts, "attempt")}`,
      ),
      n.last_error ? h("div", { class: "error note-error" }, `Last error: ${n.last_error}`) : null,
      h(
        "div",
        { class: "muted times" },
        h("time", { datetime: n.created_at, title: relativeTime(n.created_at, now) }, `Created ${formatLocalTime(n.created_at)}`),
        " · ",
        n.sent_at ? h("time", { datetime: n.sent_at }, sent) : sent,
      ),
    ),
  );
}

export function twoFactorCard(tf: TwoFactorStatus, now: Date): HTMLElement {
  const row = (label: string, value: Node | string) => [h("dt", {}, label), h("dd", {}, value)];
  return h(
    "section",
    { class: "card two-factor", "aria-labelledby": "two-factor-title" },
    h("h2", { id: "two-factor-title" }, "Two-factor authentication"),
    h(
      "dl",
      {},
      ...row("Status", h("span", { id: "two-factor-status", class: tf.enabled ? "badge on" : "badge off" }, tf.enabled ? "On" : "Off")),
      ...row("Phone", tf.phone_masked ?? "—"),
      ...row("Enabled at", formatLocalTime(tf.enabled_at)),
      ...row(
        "Last verified",
        tf.last_verified_at ? `${formatLocalTime(tf.last_verified_at)} (${relativeTime(tf.last_verified_at, now)})` : "never",
      ),
    ),
  );
}

export function userScreen(ctx: Ctx, userId: string): Screen {
  const root = h("section", { id: "user", class: "screen user", "aria-busy": "true" });
  root.dataset.ready = "false";
  let alive = true;

  const load = async (refresh = false) => {
    if (!refresh) root.replaceChildren(h("p", { class: "muted loading" }, "Loading user…"));
    root.dataset.ready = "false";
    root.setAttribute("aria-busy", "true");
    try {
      const view = await ctx.api.openUser(userId);
      if (!alive) return;
      render(view);
      if (!refresh) settleFocus(root, "#user-name");
      root.dataset.ready = "true";
      delete root.dataset.error;
    } catch (e) {
      if (!alive) return;
      const err = e as CommandError;
      if (refresh && root.querySelector("#user-name") && err.code !== "not_found") {
        root.prepend(
          errorBox({ ...err, message: `The user could not be refreshed. ${err.message}` }, ctx.signInAgain, () => void load(true)),
        );
        root.dataset.ready = "true";
        return;
      }
      root.replaceChildren(
        h("h1", { tabindex: -1 }, err.code === "not_found" ? "User not found" : "The user could not be opened"),
        h("p", { class: "muted" }, `User ${userId}`),
        errorBox(err, ctx.signInAgain, err.code === "not_found" ? undefined : () => void load()),
      );
      root.dataset.error = err.code;
    } finally {
      root.removeAttribute("aria-busy");
    }
  };

  const render = (view: UserView) => {
    const u = view.user;
    const now = ctx.now();
    const contractLabel = view.contract_name ? `${view.contract_name} (${u.contract_id})` : u.contract_id;
    const disable = h(
      "button",
      {
        id: "disable-user",
        type: "button",
        class: "danger",
        hidden: !u.two_factor.enabled,
        onclick: () =>
          openDisableDialog(ctx, { kind: "user", user: u, contractName: view.contract_name }, (r) => {
            // Show the new status at once; the reload brings the notification it sent.
            if (r.kind === "user") {
              root.querySelector(".two-factor")?.replaceWith(twoFactorCard(r.result.two_factor, ctx.now()));
              disable.hidden = !r.result.two_factor.enabled;
            }
            void load(true);
          }),
      },
      "Disable 2FA for this user",
    );
    const exportBtn = h(
      "button",
      {
        id: "export-audit",
        type: "button",
        onclick: () =>
          openExportDialog(ctx, {
            user: { id: u.user_id, name: u.display_name || u.email },
            contract: { id: u.contract_id, name: view.contract_name ?? u.contract_id },
          }),
      },
      "Export audit CSV",
    );

    const timeline = h("ol", { id: "timeline", class: "timeline", "aria-label": "Notifications, newest first" });
    timeline.append(...view.notifications.items.map((n) => timelineItem(n, now)));
    const empty = h("p", { class: "muted", hidden: view.notifications.items.length > 0 }, "No notifications were sent to this user.");
    const moreError = h("div", {});
    let cursor = view.notifications.next_cursor;
    const more = h("button", { type: "button", id: "load-more", hidden: cursor === null }, "Load more");
    more.addEventListener("click", async () => {
      if (!cursor) return;
      more.disabled = true;
      more.textContent = "Loading…";
      moreError.replaceChildren();
      try {
        const page = await ctx.api.moreNotifications(u.user_id, cursor);
        if (!alive) return;
        const at = ctx.now();
        timeline.append(...page.items.map((n) => timelineItem(n, at)));
        cursor = page.next_cursor;
        more.hidden = cursor === null;
      } catch (e) {
        moreError.replaceChildren(errorBox(e as CommandError, ctx.signInAgain));
      } finally {
        more.disabled = false;
        more.textContent = "Load more";
      }
    });

    const contractLink = h(
      "button",
      { type: "button", class: "link", onclick: () => ctx.open({ kind: "contract", id: u.contract_id }) },
      contractLabel,
    );

    root.replaceChildren(
      h(
        "div",
        { class: "screen-head" },
        h(
          "div",
          { class: "summary" },
          h("h1", { id: "user-name", tabindex: -1 }, u.display_name || u.email),
          h("p", { class: "facts" }, h("span", {}, u.email), " · ", h("span", { class: "id" }, u.user_id), " · ", contractLink),
        ),
        h("div", { class: "actions" }, disable, exportBtn),
      ),
      h(
        "div",
        { class: "user-body" },
        twoFactorCard(u.two_factor, now),
        h(
          "section",
          { class: "card history", "aria-labelledby": "history-title" },
          h("h2", { id: "history-title" }, "Notifications"),
          timeline,
          empty,
          moreError,
          more,
        ),
      ),
    );
  };

  void load();
  return {
    root,
    dispose: () => {
      alive = false;
    },
  };
}
