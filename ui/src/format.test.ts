import { describe, expect, it } from "vitest";
import {
  channelLabel,
  formatCount,
  formatLocalTime,
  formatPercent,
  formatShare,
  plural,
  purposeWords,
  relativeTime,
  rowsWritten,
  scopeWords,
} from "./format";

describe("counts and shares", () => {
  it("separates thousands", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(1082)).toBe("1,082");
    expect(formatCount(1234567)).toBe("1,234,567");
  });

  it("pluralises", () => {
    expect(plural(1, "user")).toBe("1 user");
    expect(plural(0, "user")).toBe("0 users");
    expect(plural(10000, "user")).toBe("10,000 users");
  });

  it("rounds percentages without lying at the edges", () => {
    expect(formatPercent(732, 1082)).toBe("68%");
    expect(formatPercent(0, 10)).toBe("0%");
    expect(formatPercent(10, 10)).toBe("100%");
    expect(formatPercent(9999, 10000)).toBe("99%");
    expect(formatPercent(1, 10000)).toBe("<1%");
    expect(formatPercent(0, 0)).toBe("0%");
  });

  it("states the 2FA share as the contract screen shows it", () => {
    expect(formatShare(732, 1082)).toBe("732 of 1,082 users (68%)");
    expect(formatShare(1, 1)).toBe("1 of 1 user (100%)");
    expect(formatShare(0, 0)).toBe("No users yet");
  });

  it("counts rows written", () => {
    expect(rowsWritten(12345)).toBe("12,345 rows written");
    expect(rowsWritten(1)).toBe("1 row written");
  });
});

describe("times", () => {
  const now = new Date("2026-03-05T12:00:00Z");

  it("formats instants in the given zone and locale", () => {
    expect(formatLocalTime("2026-03-05T13:07:00Z", { locale: "en-US", timeZone: "Europe/Berlin" })).toBe(
      "Mar 5, 2026, 2:07 PM",
    );
    expect(formatLocalTime("2026-03-05T13:07:00Z", { locale: "en-GB", timeZone: "UTC" })).toBe(
      "5 Mar 2026, 13:07",
    );
    expect(formatLocalTime(null)).toBe("—");
    expect(formatLocalTime("not a date")).toBe("—");
  });

  it("says how long ago, relative to the given clock", () => {
    expect(relativeTime("2026-03-05T11:59:50Z", now)).toBe("just now");
    expect(relativeTime("2026-03-05T11:55:00Z", now)).toBe("5 min ago");
    expect(relativeTime("2026-03-05T09:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-03-04T12:00:00Z", now)).toBe("1 day ago");
    expect(relativeTime("2026-02-25T12:00:00Z", now)).toBe("8 days ago");
    expect(relativeTime("2025-12-05T12:00:00Z", now)).toBe("3 months ago");
    expect(relativeTime("2024-03-05T12:00:00Z", now)).toBe("2 years ago");
    expect(relativeTime("2026-03-05T12:04:00Z", now)).toBe("in 4 min");
    expect(relativeTime(null, now)).toBe("never");
  });
});

describe("words", () => {
  it("names every documented purpose in words", () => {
    expect(purposeWords("login_code")).toBe("Sign-in code");
    expect(purposeWords("two_factor_disabled_by_manager")).toBe("2FA turned off by an account manager");
    for (const p of [
      "login_code",
      "enable_code",
      "phone_change_current_code",
      "phone_change_new_code",
      "disable_code",
      "two_factor_enabled",
      "phone_changed",
      "two_factor_disabled",
      "two_factor_disabled_by_manager",
      "account_locked",
    ]) {
      expect(purposeWords(p)).not.toContain("_");
    }
  });

  it("turns an unknown purpose into words rather than a code", () => {
    expect(purposeWords("recovery_codes_viewed")).toBe("Recovery codes viewed");
    expect(purposeWords("")).toBe("Notification");
  });

  it("labels channels and scopes", () => {
    expect(channelLabel("sms")).toBe("SMS");
    expect(channelLabel("email")).toBe("Email");
    expect(scopeWords("all")).toBe("All my contracts");
    expect(scopeWords("contract:C-10001")).toBe("Contract C-10001");
    expect(scopeWords("user:u_9")).toBe("User u_9");
  });
});
