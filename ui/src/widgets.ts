// Pieces every screen uses: the inline error and the modal dialog.
import type { CommandError } from "./bindings/CommandError";
import { h } from "./dom";

/**
 * An error where it happened, in the core's words (already written for a
 * manager; never a raw code). A revoked or missing sign-in offers the way back.
 */
export function errorBox(err: CommandError, signInAgain: () => void, retry?: () => void): HTMLElement {
  const needsSignIn = err.code === "unauthorized" || err.code === "not_signed_in";
  return h(
    "div",
    { class: "error-box", role: "alert" },
    h("p", { class: "error" }, err.message),
    needsSignIn ? h("button", { type: "button", class: "sign-in-again", onclick: () => signInAgain() }, "Sign in again") : null,
    retry && !needsSignIn ? h("button", { type: "button", class: "retry", onclick: () => retry() }, "Try again") : null,
  );
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function focusables(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !el.closest("[hidden]"));
}

export interface Modal {
  /** The dialog element (role=dialog); put the content inside it. */
  dialog: HTMLElement;
  /** Closes unless `canClose` says no; `force` closes anyway. Returns whether it closed. */
  close(force?: boolean): boolean;
  /** Focuses the first focusable element (or the one marked data-autofocus). */
  focusFirst(): void;
}

let openModal: Modal | null = null;

/** The modal that is open now, if any (Ctrl+K and Alt+Left consult it). */
export function currentModal(): Modal | null {
  return openModal;
}

/**
 * A modal dialog: role=dialog, aria-modal, focus kept inside (Tab and
 * Shift+Tab wrap), Escape closes, focus returns to where it was.
 */
export function modal(opts: {
  title: string;
  id: string;
  canClose?: () => boolean;
  onClose?: () => void;
  host?: HTMLElement;
}): Modal {
  openModal?.close(true);
  const titleId = `${opts.id}-title`;
  const previous = document.activeElement as HTMLElement | null;
  const dialog = h("div", {
    class: "dialog",
    id: opts.id,
    role: "dialog",
    "aria-modal": "true",
    "aria-labelledby": titleId,
  });
  dialog.append(h("h2", { id: titleId }, opts.title));
  const backdrop = h("div", { class: "backdrop" }, dialog);
  let closed = false;

  const m: Modal = {
    dialog,
    close(force = false) {
      if (closed) return true;
      if (!force && opts.canClose && !opts.canClose()) return false;
      closed = true;
      backdrop.remove();
      if (openModal === m) openModal = null;
      opts.onClose?.();
      // The opener may have been re-rendered (a refresh after a disable): then the screen's heading.
      if (previous && previous.isConnected) previous.focus();
      else document.querySelector<HTMLElement>("#main h1")?.focus();
      return true;
    },
    focusFirst() {
      const preferred = dialog.querySelector<HTMLElement>("[data-autofocus]");
      const target = preferred && !preferred.closest("[hidden]") && !(preferred as HTMLButtonElement).disabled
        ? preferred
        : focusables(dialog)[0];
      (target ?? dialog).focus();
    },
  };

  dialog.tabIndex = -1;
  backdrop.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      m.close();
      return;
    }
    if (ev.key !== "Tab") return;
    const items = focusables(dialog);
    if (items.length === 0) {
      ev.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (ev.shiftKey && (active === first || !dialog.contains(active))) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && (active === last || !dialog.contains(active))) {
      ev.preventDefault();
      first.focus();
    }
  });
  // Focus that escapes (a click on the backdrop) comes back in.
  backdrop.addEventListener("mousedown", (ev) => {
    if (ev.target === backdrop) {
      ev.preventDefault();
      m.focusFirst();
    }
  });

  (opts.host ?? document.body).append(backdrop);
  openModal = m;
  queueMicrotask(() => {
    if (!closed && !dialog.contains(document.activeElement)) m.focusFirst();
  });
  return m;
}

/**
 * After a screen's data arrives, moves focus into it — unless the manager
 * already put focus somewhere else (a dialog, the search box).
 */
export function settleFocus(root: HTMLElement, selector: string): void {
  const active = document.activeElement;
  if (openModal || !root.isConnected) return;
  if (active && active !== document.body && !root.contains(active)) return;
  root.querySelector<HTMLElement>(selector)?.focus();
}
