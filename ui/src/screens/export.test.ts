import { afterEach, describe, expect, it } from "vitest";
import type { ExportOutcome } from "../bindings/ExportOutcome";
import { EXPORT_PROGRESS } from "../ipc";
import { fakeApi, fakeCtx, tick } from "../test-support";
import { currentModal } from "../widgets";
import { buildRequest, exportFlow, openExportDialog, outcomeText, scopeChoices } from "./export";

const here = { contract: { id: "C-10001", name: "Acme Corp" }, user: { id: "u_7", name: "Ada" } };

afterEach(() => {
  currentModal()?.close(true);
  document.body.replaceChildren();
});

/** A run_export that stays pending until the test settles it. */
function pendingExport() {
  let settle!: (o: ExportOutcome | { reject: unknown }) => void;
  const promise = new Promise<ExportOutcome>((resolve, reject) => {
    settle = (o) => ("reject" in o ? reject(o.reject) : resolve(o));
  });
  return { run: () => promise, settle };
}

describe("export request", () => {
  it("offers the scopes that fit where the dialog was opened, narrowest first", () => {
    expect(scopeChoices(here).map((c) => c.value)).toEqual(["user", "contract", "all"]);
    expect(scopeChoices({ contract: here.contract }).map((c) => c.label)).toEqual(["This contract (Acme Corp)", "All my contracts"]);
    expect(scopeChoices({}).map((c) => c.value)).toEqual(["all"]);
  });

  it("builds the request with optional, ordered dates", () => {
    expect(buildRequest(here, "contract", "", "")).toEqual({
      request: { scope: { kind: "contract", contract_id: "C-10001" }, since: null, until: null },
    });
    expect(buildRequest(here, "user", "2026-01-01", "2026-03-31")).toEqual({
      request: { scope: { kind: "user", user_id: "u_7" }, since: "2026-01-01", until: "2026-03-31" },
    });
    expect(buildRequest(here, "all", "2026-03-01", "2026-03-01")).toEqual({
      request: { scope: { kind: "all" }, since: "2026-03-01", until: "2026-03-01" },
    });
    expect(buildRequest(here, "all", "2026-04-01", "2026-03-01")).toEqual({ error: "The start date is after the end date." });
    expect(buildRequest({}, "contract", "", "")).toEqual({ error: "Choose what to export." });
  });
});

describe("export flow", () => {
  const request = { scope: { kind: "all" as const }, since: null, until: null };

  it("asks for the file, reports progress from events while it runs, and stops listening at the end", async () => {
    const pending = pendingExport();
    const { api, core } = fakeApi({ choose_export_path: () => "/home/ada/audit.csv", run_export: pending.run });
    const rows: number[] = [];
    let running = "";
    const flow = exportFlow(api, request, { onRunning: (p) => (running = p), onProgress: (r) => rows.push(r) });
    await tick();
    expect(running).toBe("/home/ada/audit.csv");
    expect(core.listeners(EXPORT_PROGRESS)).toBe(1);
    core.emit(EXPORT_PROGRESS, { rows: 5000, bytes: 1 });
    core.emit(EXPORT_PROGRESS, { rows: 12345, bytes: 2 });
    pending.settle({ status: "completed", rows: 12400, file_path: "/home/ada/audit.csv", message: null });
    const r = await flow;
    core.emit(EXPORT_PROGRESS, { rows: 99999, bytes: 3 });
    expect(rows).toEqual([5000, 12345]);
    expect(core.listeners(EXPORT_PROGRESS)).toBe(0);
    expect(core.calls).toEqual([
      ["choose_export_path", { request }],
      ["run_export", { request, path: "/home/ada/audit.csv" }],
    ]);
    expect(outcomeText(r)).toEqual({ status: "completed", text: "Export complete: 12,400 rows written to /home/ada/audit.csv" });
  });

  it("does nothing when the save dialog is cancelled", async () => {
    const { api, core } = fakeApi({ choose_export_path: () => null });
    const r = await exportFlow(api, request, { onRunning: () => {}, onProgress: () => {} });
    expect(r).toEqual({ kind: "no_file" });
    expect(outcomeText(r)).toBeNull();
    expect(core.calls.map(([c]) => c)).toEqual(["choose_export_path"]);
  });

  it("turns a rejected export into a failure in words, and stops listening", async () => {
    const { api, core } = fakeApi({
      choose_export_path: () => "/tmp/a.csv",
      run_export: () => {
        throw { code: "io", message: "The file could not be written: disk full." };
      },
    });
    const r = await exportFlow(api, request, { onRunning: () => {}, onProgress: () => {} });
    expect(outcomeText(r)).toEqual({ status: "failed", text: "The export failed. The file could not be written: disk full." });
    expect(core.listeners(EXPORT_PROGRESS)).toBe(0);
  });

  it("words a cancelled and a failed outcome", () => {
    expect(outcomeText({ kind: "outcome", outcome: { status: "cancelled", rows: 10, file_path: "/x", message: null } })).toEqual({
      status: "cancelled",
      text: "Export cancelled. No file was written.",
    });
    expect(
      outcomeText({ kind: "outcome", outcome: { status: "failed", rows: 10, file_path: "/x", message: "The server closed the connection." } }),
    ).toEqual({ status: "failed", text: "The export failed: The server closed the connection. No file was written." });
  });
});

describe("export dialog", () => {
  const q = <T extends Element = HTMLElement>(sel: string) => document.querySelector(sel) as T;

  it("runs, shows rows written, cancels through the core and shows the outcome", async () => {
    const pending = pendingExport();
    const f = fakeCtx({
      choose_export_path: () => "/home/ada/tollgate-audit-contract-C-10001-2026-03-05.csv",
      run_export: pending.run,
      cancel_export: () => {
        pending.settle({ status: "cancelled", rows: 2000, file_path: "/home/ada/x.csv", message: null });
        return true;
      },
    });
    openExportDialog(f.ctx, { contract: here.contract });
    const scope = q<HTMLSelectElement>("#export-scope");
    expect(Array.from(scope.options).map((o) => o.value)).toEqual(["contract", "all"]);
    q<HTMLInputElement>("#export-since").value = "2026-01-01";
    q<HTMLInputElement>("#export-since").dispatchEvent(new Event("input"));
    q<HTMLButtonElement>("#export-start").click();
    await tick();
    expect(f.core.calls[1]).toEqual([
      "run_export",
      {
        request: { scope: { kind: "contract", contract_id: "C-10001" }, since: "2026-01-01", until: null },
        path: "/home/ada/tollgate-audit-contract-C-10001-2026-03-05.csv",
      },
    ]);
    expect(q("#export-progress").textContent).toBe("0 rows written");
    f.core.emit(EXPORT_PROGRESS, { rows: 12345, bytes: 1 });
    expect(q("#export-progress").textContent).toBe("12,345 rows written");
    expect(q<HTMLButtonElement>("#export-start").disabled).toBe(true);
    expect(scope.disabled).toBe(true);
    // Escape does not close the dialog while the export runs.
    q("#export-dialog").dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(q("#export-dialog")).not.toBeNull();
    q<HTMLButtonElement>("#export-cancel").click();
    await tick();
    await tick();
    expect(f.core.calls.map(([c]) => c)).toContain("cancel_export");
    expect(q("#export-result").dataset.status).toBe("cancelled");
    expect(q("#export-result").textContent).toBe("Export cancelled. No file was written.");
    expect(q<HTMLButtonElement>("#export-start").disabled).toBe(false);
    q<HTMLButtonElement>("#export-cancel").click(); // now "Close"
    expect(q("#export-dialog")).toBeNull();
  });

  it("asks again when Cancel comes before the core has registered the export", async () => {
    const pending = pendingExport();
    let asked = 0;
    const f = fakeCtx({
      choose_export_path: () => "/tmp/a.csv",
      run_export: pending.run,
      cancel_export: () => {
        asked++;
        if (asked < 2) return false; // not running yet
        pending.settle({ status: "cancelled", rows: 0, file_path: "/tmp/a.csv", message: null });
        return true;
      },
    });
    openExportDialog(f.ctx, {});
    q<HTMLButtonElement>("#export-start").click();
    await tick();
    q<HTMLButtonElement>("#export-cancel").click();
    await tick(150);
    expect(asked).toBe(2);
    expect(q("#export-result").dataset.status).toBe("cancelled");
  });

  it("refuses a reversed date range before asking for a file", () => {
    const f = fakeCtx({});
    openExportDialog(f.ctx, {});
    q<HTMLInputElement>("#export-since").value = "2026-05-01";
    q<HTMLInputElement>("#export-until").value = "2026-04-01";
    q<HTMLInputElement>("#export-until").dispatchEvent(new Event("input"));
    expect(q<HTMLButtonElement>("#export-start").disabled).toBe(true);
    expect(q("#export-invalid").textContent).toBe("The start date is after the end date.");
    expect(f.core.calls).toEqual([]);
  });

  it("shows a completed export with its path", async () => {
    const f = fakeCtx({
      choose_export_path: () => "/tmp/all.csv",
      run_export: () => ({ status: "completed", rows: 3, file_path: "/tmp/all.csv", message: null }),
    });
    openExportDialog(f.ctx, {});
    q<HTMLButtonElement>("#export-start").click();
    await tick();
    await tick();
    expect(q("#export-result").dataset.status).toBe("completed");
    expect(q("#export-result").textContent).toBe("Export complete: 3 rows written to /tmp/all.csv");
    expect(q("#export-progress").textContent).toBe("3 rows written");
  });
});
