import { afterEach, describe, expect, it } from "vitest";
import { h } from "./dom";
import { currentModal, errorBox, modal } from "./widgets";

const tab = (shift = false) =>
  document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Tab", shiftKey: shift, bubbles: true, cancelable: true }));

afterEach(() => {
  currentModal()?.close(true);
  document.body.replaceChildren();
});

describe("errorBox", () => {
  it("shows the message and offers sign-in only for a revoked sign-in", () => {
    let signIns = 0;
    const box = errorBox({ code: "unauthorized", message: "Your token was revoked." }, () => signIns++);
    expect(box.getAttribute("role")).toBe("alert");
    expect(box.textContent).toContain("Your token was revoked.");
    expect(box.textContent).not.toContain("unauthorized");
    (box.querySelector(".sign-in-again") as HTMLButtonElement).click();
    expect(signIns).toBe(1);
    const other = errorBox({ code: "server_unreachable", message: "The server did not answer." }, () => {}, () => {});
    expect(other.querySelector(".sign-in-again")).toBeNull();
    expect(other.querySelector(".retry")).not.toBeNull();
  });
});

describe("modal", () => {
  it("traps Tab inside, closes on Escape and gives focus back", async () => {
    const opener = h("button", {}, "open");
    document.body.append(opener);
    opener.focus();
    let closed = 0;
    const m = modal({ title: "Disable", id: "d", onClose: () => closed++ });
    const a = h("input", { id: "a" });
    const b = h("button", { id: "b" }, "b");
    m.dialog.append(a, b);
    await Promise.resolve();
    expect(document.activeElement).toBe(a);
    expect(m.dialog.getAttribute("aria-modal")).toBe("true");
    expect(m.dialog.getAttribute("aria-labelledby")).toBe("d-title");
    b.focus();
    tab();
    expect(document.activeElement).toBe(a);
    tab(true);
    expect(document.activeElement).toBe(b);
    b.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(closed).toBe(1);
    expect(document.getElementById("d")).toBeNull();
    expect(document.activeElement).toBe(opener);
    expect(currentModal()).toBeNull();
  });

  it("stays open on Escape while it must (an export running)", () => {
    let busy = true;
    const m = modal({ title: "Export", id: "e", canClose: () => !busy });
    m.dialog.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(document.getElementById("e")).not.toBeNull();
    busy = false;
    m.dialog.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(document.getElementById("e")).toBeNull();
  });

  it("gives focus to the screen's heading when the opener was re-rendered meanwhile", async () => {
    const main = h("main", { id: "main" }, h("h1", { tabindex: -1 }, "Acme Corp"));
    const opener = h("button", {}, "Disable");
    main.append(opener);
    document.body.append(main);
    opener.focus();
    const m = modal({ title: "Disable", id: "d2" });
    m.dialog.append(h("button", {}, "Close"));
    await Promise.resolve();
    opener.remove(); // the screen refreshed behind the dialog
    m.close();
    expect(document.activeElement).toBe(main.querySelector("h1"));
  });
});
