// Words and numbers as a manager reads them. Pure functions: the clock, the
// locale and the time zone are parameters, so tests pin them.

const COUNT = new Intl.NumberFormat("en-US");

/** 12345 → "12,345". */
export function formatCount(n: number): string {
  return COUNT.format(n);
}

/** "1 user", "2 users" — `plural` defaults to `singular + "s"`. */
export function plural(n: number, singular: string, pluralWord = `${singular}s`): string {
  return `${formatCount(n)} ${n === 1 ? singular : pluralWord}`;
}

/**
 * A share as a whole percentage that never lies at the edges: a part that is
 * not the whole never reads "100%", and a non-zero part never reads "0%".
 */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return "0%";
  const exact = (part / whole) * 100;
  let rounded = Math.round(exact);
  if (rounded === 100 && part < whole) rounded = 99;
  if (rounded === 0 && part > 0) return "<1%";
  return `${rounded}%`;
}

/** "732 of 1,082 users (68%)". */
export function formatShare(part: number, whole: number): string {
  if (whole === 0) return "No users yet";
  return `${formatCount(part)} of ${plural(whole, "user")} (${formatPercent(part, whole)})`;
}

export interface TimeOptions {
  locale?: string;
  timeZone?: string;
}

/** An RFC 3339 instant in the manager's local time ("Mar 5, 2026, 2:07 PM"). */
export function formatLocalTime(iso: string | null, opts: TimeOptions = {}): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return dateTimeFormat(opts).format(d);
}

// Building an Intl formatter costs far more than using one; table rows format
// many times per scroll frame, so formatters are kept per locale and zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

function dateTimeFormat(opts: TimeOptions): Intl.DateTimeFormat {
  const key = `${opts.locale ?? ""}|${opts.timeZone ?? ""}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(opts.locale, { dateStyle: "medium", timeStyle: "short", timeZone: opts.timeZone });
    formatters.set(key, f);
  }
  return f;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", "in 4 min" … relative to `now`. */
export function relativeTime(iso: string | null, now: Date): string {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "—";
  const seconds = Math.round((now.getTime() - t) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text: string;
  if (s < 45) return "just now";
  else if (s < 3600) text = `${Math.max(1, Math.round(s / 60))} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else if (s < 86400 * 45) text = plural(Math.round(s / 86400), "day");
  else if (s < 86400 * 365) text = plural(Math.round(s / (86400 * 30)), "month");
  else text = plural(Math.round(s / (86400 * 365)), "year");
  return future ? `in ${text}` : `${text} ago`;
}

const PURPOSES: Record<string, string> = {
  login_code: "Sign-in code",
  enable_code: "Code to turn 2FA on",
  phone_change_current_code: "Phone change: code to the current phone",
  phone_change_new_code: "Phone change: code to the new phone",
  disable_code: "Code to turn 2FA off",
  two_factor_enabled: "2FA turned on",
  phone_changed: "Phone number changed",
  two_factor_disabled: "2FA turned off by the user",
  two_factor_disabled_by_manager: "2FA turned off by an account manager",
  account_locked: "Account locked after wrong codes",
};

/** A notification's purpose in words; unknown purposes still read as words. */
export function purposeWords(purpose: string): string {
  const known = PURPOSES[purpose];
  if (known) return known;
  const words = purpose.replace(/[_.-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "Notification";
}

export function channelLabel(channel: string): string {
  if (channel === "sms") return "SMS";
  if (channel === "email") return "Email";
  return channel;
}

export function statusLabel(status: string): string {
  if (status === "queued") return "Queued";
  if (status === "sent") return "Sent";
  if (status === "failed") return "Failed";
  if (status === "completed") return "Completed";
  if (status === "cancelled") return "Cancelled";
  return status;
}

/** "rows written" progress line: "12,345 rows written". */
export function rowsWritten(rows: number): string {
  return `${plural(rows, "row")} written`;
}

/** An export's scope as recorded ("contract:C-1", "user:u_9", "all") in words. */
export function scopeWords(scope: string): string {
  if (scope === "all") return "All my contracts";
  const [kind, ...rest] = scope.split(":");
  const id = rest.join(":");
  if (kind === "contract") return `Contract ${id}`;
  if (kind === "user") return `User ${id}`;
  return scope;
}
