// The Disable dialog (one user or a whole contract). It states exactly what
// will happen and to how many users, requires a reason (1–500 characters,
// kept in the audit log), and for a whole contract requires typing the
// contract id: the button stays disabled until everything holds.
import type { AdminUser } from "../bindings/AdminUser";
import type { CommandError } from "../bindings/CommandError";
import type { ContractDisabled } from "../bindings/ContractDisabled";
import type { ContractSummary } from "../bindings/ContractSummary";
import type { UserDisabled } from "../bindings/UserDisabled";
import type { Ctx } from "../context";
import { h } from "../dom";
import { formatCount, plural } from "../format";
import { errorBox, modal } from "../widgets";

export const REASON_MAX = 500;

export type DisableTarget =
  | { kind: "user"; user: AdminUser; contractName: string | null }
  | { kind: "contract"; contract: ContractSummary };

export type DisableResult = { kind: "user"; result: UserDisabled } | { kind: "contract"; result: ContractDisabled };

/** Characters as the server counts them (code points, not UTF-16 units). */
export function reasonLength(reason: string): number {
  return [...reason.trim()].length;
}

export interface DisableRules {
  reasonOk: boolean;
  /** True for a user (nothing to type). */
  idOk: boolean;
  canSubmit: boolean;
  counter: string;
  /** Why the button is disabled, for the hint under it; null when it is not. */
  hint: string | null;
}

export function disableRules(target: DisableTarget, reason: string, typedId: string, busy = false): DisableRules {
  const n = reasonLength(reason);
  const reasonOk = n >= 1 && n <= REASON_MAX;
  const idOk = target.kind === "user" || typedId.trim() === target.contract.contract_id;
  let hint: string | null = null;
  if (n === 0) hint = "Give a reason.";
  else if (n > REASON_MAX) hint = `The reason is ${formatCount(n - REASON_MAX)} characters too long.`;
  else if (!idOk) hint = "Type the contract id exactly as shown.";
  return {
    reasonOk,
    idOk,
    canSubmit: reasonOk && idOk && !busy,
    counter: `${formatCount(n)} / ${formatCount(REASON_MAX)}`,
    hint,
  };
}

const AFTER = "They can sign in with their password alone until they turn 2FA on again.";

/** Exactly what will happen, and to how many users. */
export function disableStatement(target: DisableTarget): string {
  if (target.kind === "user") {
    const u = target.user;
    const of = target.contractName ? ` of ${target.contractName}` : "";
    return `2FA will be turned off for ${u.display_name} (${u.email})${of}. They get an email about it. ${AFTER}`;
  }
  const c = target.contract;
  const n = c.users_with_two_factor;
  const where = `${c.name} (${c.contract_id})`;
  if (n === 0) return `No user of ${where} has 2FA on now, so nothing will change.`;
  const each = n === 1 ? "The user gets an email." : "Each user gets an email.";
  return `2FA will be turned off for ${plural(n, "user")} of ${where}. ${each} ${AFTER}`;
}

export function submitLabel(target: DisableTarget): string {
  if (target.kind === "user") return "Turn 2FA off";
  return `Turn 2FA off for ${plural(target.contract.users_with_two_factor, "user")}`;
}

/** The result in words: how many changed. */
export function resultText(r: DisableResult): string {
  if (r.kind === "user") return r.result.changed ? "2FA turned off for 1 user." : "2FA was already off.";
  const n = r.result.disabled;
  return n === 0 ? "2FA was already off for every user." : `2FA turned off for ${plural(n, "user")}.`;
}

export function openDisableDialog(ctx: Ctx, target: DisableTarget, onDone: (r: DisableResult) => void): void {
  let busy = false;
  let finished = false;
  const m = modal({
    title: target.kind === "user" ? "Disable 2FA for this user" : "Disable 2FA for all users",
    id: "disable-dialog",
    canClose: () => !busy,
  });

  const reason = h("textarea", {
    id: "disable-reason",
    required: true,
    rows: 3,
    maxlength: REASON_MAX,
    "aria-describedby": "disable-counter",
    placeholder: "e.g. Ticket #4711: user lost their phone (Ctrl+Enter to confirm)",
    "data-autofocus": true,
  });
  const counter = h("span", { id: "disable-counter", class: "muted counter", "aria-live": "polite" });
  const typed =
    target.kind === "contract"
      ? h("input", { id: "disable-confirm-id", type: "text", autocomplete: "off", spellcheck: "false", required: true })
      : null;
  const hint = h("p", { class: "muted hint", id: "disable-hint" });
  const error = h("div", { class: "dialog-error" });
  const submit = h("button", { id: "disable-submit", type: "submit", class: "primary danger" }, submitLabel(target));
  const cancel = h("button", { type: "button", onclick: () => m.close() }, "Cancel");
  const result = h("p", { id: "disable-result", role: "status", hidden: true });
  const close = h("button", { id: "disable-close", type: "button", class: "primary", hidden: true, onclick: () => m.close() }, "Close");

  const update = () => {
    const r = disableRules(target, reason.value, typed?.value ?? "", busy);
    counter.textContent = r.counter;
    submit.disabled = !r.canSubmit;
    hint.textContent = busy ? "" : (r.hint ?? "");
    reason.setAttribute("aria-invalid", String(reason.value.length > 0 && !r.reasonOk));
    typed?.setAttribute("aria-invalid", String(typed.value.length > 0 && !r.idOk));
  };

  const form = h(
    "form",
    {
      class: "disable-form",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        if (busy || finished || !disableRules(target, reason.value, typed?.value ?? "").canSubmit) return;
        busy = true;
        error.replaceChildren();
        submit.textContent = "Turning 2FA off…";
        reason.disabled = true;
        if (typed) typed.disabled = true;
        update();
        try {
          const text = reason.value.trim();
          const r: DisableResult =
            target.kind === "user"
              ? { kind: "user", result: await ctx.api.disableUser(target.user.user_id, text) }
              : {
                  kind: "contract",
                  result: await ctx.api.disableContract(target.contract.contract_id, text, typed!.value.trim()),
                };
          finished = true;
          busy = false;
          form.hidden = true;
          result.textContent = resultText(r);
          result.hidden = false;
          close.hidden = false;
          close.focus();
          onDone(r);
        } catch (e) {
          busy = false;
          reason.disabled = false;
          if (typed) typed.disabled = false;
          submit.textContent = submitLabel(target);
          error.replaceChildren(errorBox(e as CommandError, () => (m.close(true), ctx.signInAgain())));
          update();
        }
      },
    },
    h("p", { class: "statement", id: "disable-statement" }, disableStatement(target)),
    h("label", { for: "disable-reason" }, "Reason ", h("span", { class: "muted" }, "(required; kept in the audit log)")),
    reason,
    counter,
    typed
      ? h(
          "label",
          { for: "disable-confirm-id" },
          "To confirm, type the contract id ",
          h("code", {}, (target as { contract: ContractSummary }).contract.contract_id),
        )
      : null,
    typed,
    hint,
    error,
    h("div", { class: "dialog-actions" }, cancel, submit),
  );
  reason.addEventListener("input", update);
  reason.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  typed?.addEventListener("input", update);
  m.dialog.append(form, result, h("div", { class: "dialog-actions" }, close));
  m.dialog.setAttribute("aria-describedby", "disable-statement");
  update();
}
