import { describe, expect, it } from "vitest";
import { h } from "./dom";

describe("h", () => {
  it("sets text as text, never as HTML", () => {
    const el = h("p", {}, "<img src=x onerror=alert(1)>");
    expect(el.children.length).toBe(0);
    expect(el.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("wires events and boolean attributes", () => {
    let clicked = 0;
    const b = h("button", { onclick: () => clicked++, disabled: false, hidden: true });
    b.click();
    expect(clicked).toBe(1);
    expect(b.hasAttribute("disabled")).toBe(false);
    expect(b.hidden).toBe(true);
  });
});
