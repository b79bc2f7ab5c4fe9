/**
 * When a manifest was last pulled, to a day's precision (docs/garbage-collection.md, "Not pulled
 * for N days"): a pull writes the day only when it differs from the stored one, so a manifest costs
 * at most one write a day however often it is pulled.
 */

const DAY_MS = 86_400_000;

/** The UTC day of an instant (epoch ms), as pulls are recorded: `YYYY-MM-DD`. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The latest instant a pull recorded on `day` can have happened: the end of that UTC day (epoch ms).
 * Ages are measured from it, so a day's precision never makes a manifest look older than it is.
 * Undefined for a value that is not a day.
 */
export function endOfDay(day: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const start = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(start) ? undefined : start + DAY_MS;
}

/**
 * When a manifest was last used: the end of its last pull's day, or its push when later or when it
 * was never pulled (0 for a manifest written before push times were kept).
 */
export function lastUsed(manifest: { readonly putAt: number; readonly pulledOn?: string }): number {
  const pulled = manifest.pulledOn === undefined ? undefined : endOfDay(manifest.pulledOn);
  return Math.max(manifest.putAt, pulled ?? 0);
}

/** True when a manifest last used at `lastUsedMs` was not pulled for `days` days at `now`. */
export function notPulledFor(lastUsedMs: number, days: number, now: number): boolean {
  return lastUsedMs <= now - days * DAY_MS;
}
