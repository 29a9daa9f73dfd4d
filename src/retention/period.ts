/**
 * Retention periods as practices write them: "28d", "4w", "36m", "1y". Months and years are
 * calendar months (36 months from 31 Jan ends on the last day of the month, never spilling into
 * the next), counted in UTC so that the result does not depend on the server's time zone.
 */
export interface RetentionPeriod {
  readonly amount: number;
  readonly unit: 'd' | 'w' | 'm' | 'y';
}

const PERIOD = /^(\d{1,4})\s*(d|w|m|y)$/;

export function parsePeriod(text: string): RetentionPeriod | null {
  const match = PERIOD.exec(text.trim().toLowerCase());
  if (!match) return null;
  const amount = Number(match[1]);
  if (amount < 1) return null;
  return { amount, unit: match[2] as RetentionPeriod['unit'] };
}

/**
 * The configured period of a category, or undefined. Own keys only: a category named after an
 * Object property ("constructor", "__proto__") is not configured unless the practice configured it.
 */
export function periodOf(periods: Readonly<Record<string, RetentionPeriod>>, category: string): RetentionPeriod | undefined {
  return Object.hasOwn(periods, category) ? periods[category] : undefined;
}

/** The longest of the periods, by the date it reaches from `at`. */
export function longestPeriod(periods: Readonly<Record<string, RetentionPeriod>>, at: Date): RetentionPeriod {
  const all = Object.values(periods);
  return all.reduce((longest, period) => (addPeriod(at, period) > addPeriod(at, longest) ? period : longest), all[0]!);
}

/** `at` moved back by the period (calendar months, as addPeriod). */
export function subtractPeriod(at: Date, period: RetentionPeriod): Date {
  return addPeriod(at, { amount: -period.amount, unit: period.unit });
}

export function formatPeriod(period: RetentionPeriod): string {
  return `${period.amount}${period.unit}`;
}

const DAY_MS = 86_400_000;

export function addPeriod(start: Date, period: RetentionPeriod): Date {
  switch (period.unit) {
    case 'd':
      return new Date(start.getTime() + period.amount * DAY_MS);
    case 'w':
      return new Date(start.getTime() + period.amount * 7 * DAY_MS);
    case 'm':
      return addMonths(start, period.amount);
    case 'y':
      return addMonths(start, period.amount * 12);
  }
}

function addMonths(start: Date, months: number): Date {
  const result = new Date(start.getTime());
  const day = result.getUTCDate();
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
  result.setUTCDate(Math.min(day, lastDay));
  return result;
}
