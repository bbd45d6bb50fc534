// Settings / About: server, signed-in manager, where the token is kept,
// version, the exports made from this machine, and Sign out (confirmed
// first: it deletes the saved token and the local cache).
import type { CommandError } from "../bindings/CommandError";
import type { ExportRecord } from "../bindings/ExportRecord";
import type { Session } from "../bindings/Session";
import { h } from "../dom";
import { formatCount, formatLocalTime, scopeWords, statusLabel } from "../format";
import type { Api } from "../ipc";
import { errorBox, modal } from "../widgets";

export function storageWords(s: Session["storage"]): string {
  return s === "keyring"
    ? "In the system keyring"
    : "This session only: the token is kept in memory and forgotten when the console closes";
}

export function historyTable(records: ExportRecord[]): HTMLElement {
  if (records.length === 0) return h("p", { class: "muted" }, "No audit exports from this computer yet.");
  return h(
    "table",
    { class: "history-table" },
    h(
      "thead",
      {},
      h("tr", {}, ...["Started", "Scope", "Rows", "Status", "File"].map((t) => h("th", { scope: "col" }, t))),
    ),
    h(
      "tbody",
      {},
      ...records.map((r) =>
        h(
          "tr",
          {},
          h("td", {}, formatLocalTime(r.started_at)),
          h("td", {}, scopeWords(r.scope)),
          h("td", { class: "num" }, formatCount(r.rows)),
          h("td", {}, h("span", { class: `badge ${r.status}` }, statusLabel(r.status))),
          h("td", { class: "path", title: r.file_path }, r.file_path),
        ),
      ),
    ),
  );
}

export function openSettings(opts: {
  api: Api;
  session: Session;
  version: string;
  now: () => Date;
  signInAgain: () => void;
  signedOut: () => void;
}): void {
  const { api, session } = opts;
  let busy = false;
  const m = modal({ title: "Settings", id: "settings-dialog", canClose: () => !busy });
  const row = (label: string, value: string, id?: string) => [h("dt", {}, label), h("dd", { id }, value)];
  const history = h("div", { class: "history", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading export history…"));

  const confirmBox = h(
    "div",
    { class: "confirm notice", hidden: true, role: "group", "aria-labelledby": "sign-out-question" },
    h(
      "p",
      { id: "sign-out-question" },
      "Sign out? This deletes the saved token and the local cache (contract index, recently viewed items, export history) on this computer.",
    ),
  );
  const signOutError = h("div", {});
  const confirmBtn = h("button", { id: "sign-out-confirm", type: "button", class: "primary danger" }, "Sign out");
  const keepBtn = h("button", { type: "button" }, "Stay signed in");
  const signOut = h("button", { id: "sign-out", type: "button", class: "danger" }, "Sign out…");
  confirmBox.append(h("div", { class: "dialog-actions" }, keepBtn, confirmBtn), signOutError);

  signOut.addEventListener("click", () => {
    confirmBox.hidden = false;
    signOut.hidden = true;
    keepBtn.focus();
  });
  keepBtn.addEventListener("click", () => {
    confirmBox.hidden = true;
    signOut.hidden = false;
    signOut.focus();
  });
  confirmBtn.addEventListener("click", async () => {
    busy = true;
    confirmBtn.disabled = true;
    confirmBtn.textContent = "Signing out…";
    signOutError.replaceChildren();
    try {
      await api.signOut();
      busy = false;
      m.close(true);
      opts.signedOut();
    } catch (e) {
      busy = false;
      signOutError.replaceChildren(errorBox(e as CommandError, () => (m.close(true), opts.signInAgain())));
      confirmBtn.disabled = false;
      confirmBtn.textContent = "Sign out";
    }
  });

  m.dialog.classList.add("wide");
  m.dialog.append(
    h(
      "dl",
      { class: "about" },
      ...row("Server", session.server_url, "settings-server"),
      ...row("Signed in as", `${session.manager_name} (${session.manager_email})`, "settings-manager"),
      ...row("Token", storageWords(session.storage), "settings-storage"),
      ...row("Version", opts.version, "settings-version"),
    ),
    h("h3", {}, "Audit exports from this computer"),
    history,
    h("div", { class: "dialog-actions" }, h("button", { id: "settings-close", type: "button", onclick: () => m.close() }, "Close"), signOut),
    confirmBox,
  );

  void (async () => {
    try {
      const records = await api.exportHistory(20);
      history.replaceChildren(historyTable(records));
    } catch (e) {
      history.replaceChildren(errorBox(e as CommandError, () => (m.close(true), opts.signInAgain())));
    } finally {
      history.removeAttribute("aria-busy");
    }
  })();
}
