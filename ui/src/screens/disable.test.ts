import { describe, expect, it } from "vitest";
import { user } from "../test-support";
import { type DisableTarget, disableRules, disableStatement, reasonLength, resultText, submitLabel } from "./disable";

const contract = (n: number): DisableTarget => ({
  kind: "contract",
  contract: { contract_id: "C-10001", name: "Acme Corp", users: 1082, users_with_two_factor: n, updated_at: "" },
});
const one: DisableTarget = {
  kind: "user",
  user: user(7, { display_name: "Ada Lovelace", email: "ada@acme.example" }),
  contractName: "Acme Corp",
};

describe("disable rules", () => {
  it("needs a reason of 1 to 500 characters (spaces alone do not count)", () => {
    expect(disableRules(one, "", "").canSubmit).toBe(false);
    expect(disableRules(one, "   ", "").canSubmit).toBe(false);
    expect(disableRules(one, "   ", "").hint).toBe("Give a reason.");
    expect(disableRules(one, "x", "").canSubmit).toBe(true);
    expect(disableRules(one, "x".repeat(500), "").canSubmit).toBe(true);
    const long = disableRules(one, "x".repeat(503), "");
    expect(long.canSubmit).toBe(false);
    expect(long.hint).toBe("The reason is 3 characters too long.");
  });

  it("counts characters as the server does (an emoji is one)", () => {
    expect(reasonLength("lost phone 📱")).toBe(12);
    expect(disableRules(one, "📱".repeat(500), "").canSubmit).toBe(true);
    expect(disableRules(one, "abc", "").counter).toBe("3 / 500");
  });

  it("for a contract, needs the contract id typed exactly", () => {
    expect(disableRules(contract(732), "migration", "").canSubmit).toBe(false);
    expect(disableRules(contract(732), "migration", "c-10001").canSubmit).toBe(false);
    expect(disableRules(contract(732), "migration", "C-1000").hint).toBe("Type the contract id exactly as shown.");
    expect(disableRules(contract(732), "migration", " C-10001 ").canSubmit).toBe(true);
    expect(disableRules(contract(732), "", "C-10001").canSubmit).toBe(false);
  });

  it("is disabled while the request runs", () => {
    expect(disableRules(one, "reason", "", true).canSubmit).toBe(false);
  });
});

describe("disable words", () => {
  it("states exactly what will happen and to how many", () => {
    expect(disableStatement(contract(732))).toBe(
      "2FA will be turned off for 732 users of Acme Corp (C-10001). Each user gets an email. " +
        "They can sign in with their password alone until they turn 2FA on again.",
    );
    expect(disableStatement(contract(1))).toMatch(/^2FA will be turned off for 1 user of Acme Corp \(C-10001\)\. The user gets an email\./);
    expect(disableStatement(contract(0))).toBe("No user of Acme Corp (C-10001) has 2FA on now, so nothing will change.");
    expect(disableStatement(one)).toBe(
      "2FA will be turned off for Ada Lovelace (ada@acme.example) of Acme Corp. They get an email about it. " +
        "They can sign in with their password alone until they turn 2FA on again.",
    );
    expect(submitLabel(contract(1082))).toBe("Turn 2FA off for 1,082 users");
  });

  it("reports how many changed", () => {
    const tf = { enabled: false, phone_masked: null, enabled_at: null, last_verified_at: null };
    expect(resultText({ kind: "user", result: { user_id: "u_7", changed: true, two_factor: tf } })).toBe("2FA turned off for 1 user.");
    expect(resultText({ kind: "user", result: { user_id: "u_7", changed: false, two_factor: tf } })).toBe("2FA was already off.");
    expect(resultText({ kind: "contract", result: { contract_id: "C-1", disabled: 732 } })).toBe("2FA turned off for 732 users.");
    expect(resultText({ kind: "contract", result: { contract_id: "C-1", disabled: 0 } })).toBe("2FA was already off for every user.");
  });
});
