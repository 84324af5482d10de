// Words for people: amounts, durations, tool names and arguments.

const LOCALE = navigator.language || "en";

/** The number of minor units in one unit of a currency (CNY: 100, JPY: 1). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** An amount in minor units, written with its currency: 80000, "CNY" -> "CN¥800.00" (by locale). */
export function formatMoney(amount, currency) {
  if (amount === null || amount === undefined || !currency) return "";
  const digits = minorDigits(currency);
  const value = amount / 10 ** digits;
  try {
    return new Intl.NumberFormat(LOCALE, {
      style: "currency",
      currency,
      currencyDisplay: "code",
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

/** 412 -> "412 ms", 2300 -> "2.3 s". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** "book_flight" -> "Book flight". */
export function toolTitle(name) {
  const words = String(name).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "flight_id" -> "Flight ID", "check_in" -> "Check in". */
export function argName(key) {
  const words = String(key)
    .replace(/_id$/i, " ID")
    .replace(/_ids$/i, " IDs")
    .replace(/_m2$/i, " m²")
    .replace(/_m$/i, " (m)")
    .replace(/[_-]+/g, " ")
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A number in the reader's locale, grouped from five digits on: 6000000 -> "6,000,000"
 * (en), "6.000.000" (de); 2027 and 450 stay as they are (years, metres). */
export function formatNumber(value, locale = LOCALE) {
  try {
    return new Intl.NumberFormat(locale, { useGrouping: "min2", maximumFractionDigits: 6 }).format(value);
  } catch {
    return String(value);
  }
}

/** An argument's value in words: lists joined, objects as key: value, booleans yes/no, numbers
 * in the reader's locale. */
export function argValue(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return formatNumber(value);
  if (Array.isArray(value)) return value.map(argValue).join(", ");
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([k, v]) => `${argName(k)}: ${argValue(v)}`)
      .join("; ");
  }
  return String(value);
}

/** A run's creation time, short: "14:05" today, "3 Jan" otherwise. */
export function formatWhen(iso) {
  if (!iso) return "";
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString(LOCALE, { day: "numeric", month: "short" });
}

export const STATUS_WORDS = {
  queued: "Queued",
  running: "Working",
  awaiting_confirmation: "Needs your approval",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** The last part of a path (an artifact's file name). */
export function baseName(path) {
  return String(path).split(/[\\/]/).pop();
}
