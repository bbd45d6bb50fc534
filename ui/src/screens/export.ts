// The Export audit CSV dialog: scope (what fits where it was opened), an
// optional date range (UTC days, both inclusive), Start → the save dialog →
// the export, with "N rows written" from the core's progress events, Cancel,
// and the outcome. The core writes a temporary file and renames it only when
// complete, so a cancelled or failed export leaves nothing behind.
import type { CommandError } from "../bindings/CommandError";
import type { ExportOutcome } from "../bindings/ExportOutcome";
import type { ExportRequest } from "../bindings/ExportRequest";
import type { ExportScope } from "../bindings/ExportScope";
import type { Ctx } from "../context";
import { h } from "../dom";
import { rowsWritten } from "../format";
import type { Api } from "../ipc";
import { toCommandError } from "../ipc";
import { errorBox, modal } from "../widgets";

export type ScopeKind = ExportScope["kind"];

/** Where the dialog was opened: which scopes fit. */
export interface ExportContext {
  contract?: { id: string; name: string };
  user?: { id: string; name: string };
}

export interface ScopeChoice {
  value: ScopeKind;
  label: string;
}

/** The scopes to offer, the narrowest first (it is the one preselected). */
export function scopeChoices(c: ExportContext): ScopeChoice[] {
  const out: ScopeChoice[] = [];
  if (c.user) out.push({ value: "user", label: `This user (${c.user.name})` });
  if (c.contract) out.push({ value: "contract", label: `This contract (${c.contract.name})` });
  out.push({ value: "all", label: "All my contracts" });
  return out;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The request for the form's values, or the reason it cannot be made. */
export function buildRequest(
  c: ExportContext,
  scope: ScopeKind,
  since: string,
  until: string,
): { request: ExportRequest } | { error: string } {
  let s: ExportScope;
  if (scope === "contract" && c.contract) s = { kind: "contract", contract_id: c.contract.id };
  else if (scope === "user" && c.user) s = { kind: "user", user_id: c.user.id };
  else if (scope === "all") s = { kind: "all" };
  else return { error: "Choose what to export." };
  if (since && !DAY.test(since)) return { error: "The start date is not a date." };
  if (until && !DAY.test(until)) return { error: "The end date is not a date." };
  if (since && until && since > until) return { error: "The start date is after the end date." };
  return { request: { scope: s, since: since || null, until: until || null } };
}

export type FlowResult =
  | { kind: "no_file" }
  | { kind: "outcome"; outcome: ExportOutcome }
  | { kind: "error"; error: CommandError };

/**
 * Asks where to save, then runs the export, reporting rows written from the
 * progress events until it ends (events after the end are ignored).
 */
export async function exportFlow(
  api: Api,
  request: ExportRequest,
  hooks: { onRunning(path: string): void; onProgress(rows: number): void },
): Promise<FlowResult> {
  let path: string | null;
  try {
    path = await api.chooseExportPath(request);
  } catch (e) {
    return { kind: "error", error: toCommandError(e) };
  }
  if (path === null) return { kind: "no_file" };
  let done = false;
  let unlisten: (() => void) | null = null;
  try {
    unlisten = await api.onExportProgress((p) => {
      if (!done) hooks.onProgress(p.rows);
    });
    hooks.onRunning(path);
    const outcome = await api.runExport(request, path);
    return { kind: "outcome", outcome };
  } catch (e) {
    return { kind: "error", error: toCommandError(e) };
  } finally {
    done = true;
    unlisten?.();
  }
}

/** The outcome in words, and the status the result element carries. */
export function outcomeText(r: FlowResult): { status: "completed" | "cancelled" | "failed"; text: string } | null {
  if (r.kind === "no_file") return null;
  if (r.kind === "error") return { status: "failed", text: `The export failed. ${r.error.message}` };
  const o = r.outcome;
  if (o.status === "completed") return { status: "completed", text: `Export complete: ${rowsWritten(o.rows)} to ${o.file_path}` };
  if (o.status === "cancelled") return { status: "cancelled", text: "Export cancelled. No file was written." };
  return { status: "failed", text: `The export failed${o.message ? `: ${o.message}` : "."} No file was written.` };
}

export function openExportDialog(ctx: Ctx, where: ExportContext): void {
  let running = false;
  const m = modal({ title: "Export audit CSV", id: "export-dialog", canClose: () => !running });
  const choices = scopeChoices(where);
  const scope = h(
    "select",
    { id: "export-scope", "data-autofocus": true },
    ...choices.map((c) => h("option", { value: c.value }, c.label)),
  );
  const dateProps = { type: "date", placeholder: "YYYY-MM-DD", pattern: "\\d{4}-\\d{2}-\\d{2}", "aria-describedby": "export-dates-hint" };
  const since = h("input", { id: "export-since", ...dateProps });
  const until = h("input", { id: "export-until", ...dateProps });
  const invalid = h("p", { class: "error", id: "export-invalid", role: "alert", hidden: true });
  const start = h("button", { id: "export-start", type: "submit", class: "primary" }, "Choose file and export…");
  const cancel = h("button", { id: "export-cancel", type: "button" }, "Close");
  const progress = h("p", { id: "export-progress", "aria-live": "polite", hidden: true });
  const result = h("div", { id: "export-result", role: "status", hidden: true });
  const fields = [scope, since, until];

  const validate = () => {
    const r = buildRequest(where, scope.value as ScopeKind, since.value, until.value);
    const error = "error" in r ? r.error : null;
    invalid.textContent = error ?? "";
    invalid.hidden = error === null;
    start.disabled = running || error !== null;
    return "request" in r ? r.request : null;
  };

  const setRunning = (on: boolean) => {
    running = on;
    for (const f of fields) f.disabled = on;
    cancel.textContent = on ? "Cancel export" : "Close";
    validate();
  };

  cancel.addEventListener("click", async () => {
    if (!running) {
      m.close();
      return;
    }
    cancel.disabled = true;
    progress.textContent = `${progress.textContent} · cancelling…`;
    try {
      // Between the save dialog and the core registering the export there is
      // a moment where nothing is running yet: ask again briefly.
      for (let i = 0; i < 10 && running && !(await ctx.api.cancelExport()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (e) {
      result.hidden = false;
      result.replaceChildren(errorBox(toCommandError(e), ctx.signInAgain));
    } finally {
      cancel.disabled = false;
    }
  });

  const form = h(
    "form",
    {
      class: "export-form",
      novalidate: true,
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const request = validate();
        if (!request || running) return;
        setRunning(true);
        result.hidden = true;
        result.removeAttribute("data-status");
        start.textContent = "Waiting for the file name…";
        const r = await exportFlow(ctx.api, request, {
          onRunning: (path) => {
            start.textContent = "Exporting…";
            progress.hidden = false;
            progress.textContent = rowsWritten(0);
            progress.title = path;
          },
          onProgress: (rows) => {
            progress.textContent = rowsWritten(rows);
          },
        });
        setRunning(false);
        start.textContent = "Choose file and export…";
        const o = outcomeText(r);
        if (!o) {
          progress.hidden = true;
          result.hidden = false;
          result.removeAttribute("data-status");
          result.replaceChildren(h("p", { class: "muted" }, "No file chosen; nothing was exported."));
          start.focus();
          return;
        }
        if (r.kind === "outcome") progress.textContent = rowsWritten(r.outcome.rows);
        result.hidden = false;
        result.dataset.status = o.status;
        result.replaceChildren(
          r.kind === "error"
            ? errorBox({ ...r.error, message: o.text }, () => (m.close(true), ctx.signInAgain()))
            : h("p", { class: o.status === "completed" ? "ok" : o.status === "failed" ? "error" : "muted" }, o.text),
        );
        cancel.focus();
      },
    },
    h("label", { for: "export-scope" }, "What to export"),
    scope,
    h(
      "div",
      { class: "dates" },
      h("div", {}, h("label", { for: "export-since" }, "From"), since),
      h("div", {}, h("label", { for: "export-until" }, "Until"), until),
    ),
    h("p", { class: "muted hint", id: "export-dates-hint" }, "UTC days, both included. Leave empty for no limit."),
    invalid,
    progress,
    result,
    h("div", { class: "dialog-actions" }, cancel, start),
  );
  for (const f of fields) f.addEventListener("input", validate);
  scope.addEventListener("change", validate);
  m.dialog.append(form);
  validate();
}
