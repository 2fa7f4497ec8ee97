import { badRequest } from '../shared/errors';

/**
 * The dashboard's query: `timeframe` 7d | 30d (default) | 90d | custom (with `from` and `to`, ISO
 * dates, `to` inclusive, at most 366 days), `tz` an IANA zone (default Europe/Paris, Upiik's
 * business days). Anything else, or a parameter given twice, is a 400 naming the parameter.
 */
export const DEFAULT_TIME_ZONE = 'Europe/Paris';
export const MAX_CUSTOM_DAYS = 366;
export const TIMEFRAMES = ['7d', '30d', '90d', 'custom'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

const PARAMETERS = ['timeframe', 'from', 'to', 'tz'];
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

export interface Period {
  /** First business day, inclusive (YYYY-MM-DD). */
  start: string;
  /** Last business day, inclusive. */
  end: string;
  days: number;
}

export interface DashboardQuery {
  timeframe: Timeframe;
  tz: string;
  period: Period;
  /** The period of equal length just before, for trends. */
  previous: Period;
}

/** An ISO calendar date that exists (2026-02-30 does not). */
export function isCalendarDate(value: string): boolean {
  if (!ISO_DATE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** A zone name the runtime knows (IANA names and UTC); the database's own list is checked by the caller. */
export function isTimeZone(value: string): boolean {
  if (value.length > 64 || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(value)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** Today's date in `tz`. */
export function todayIn(tz: string, now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

export const addDays = (day: string, days: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
export const daysBetween = (from: string, to: string): number => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);

/** Validates the query string into the periods it asks for; every failure is a 400 naming the parameter. */
export function parseDashboardQuery(query: Record<string, unknown>, now: Date): DashboardQuery {
  const unknown = Object.keys(query).filter((name) => !PARAMETERS.includes(name));
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).map((n) => n.replace(/[^A-Za-z0-9_.[\]-]/g, '?').slice(0, 40));
    throw badRequest(`Unknown query parameter ${shown.join(', ')} (this route takes ${PARAMETERS.join(', ')})`, 'invalid_query', { param: shown[0] });
  }
  const invalid = (param: string, message: string) => badRequest(message, 'invalid_query', { param });
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (value !== undefined && typeof value !== 'string') throw invalid(name, `${name} must be given once, as a plain value`);
    return value;
  };
  const timeframe = single('timeframe') ?? '30d';
  const from = single('from');
  const to = single('to');
  const tz = single('tz') ?? DEFAULT_TIME_ZONE;
  if (!(TIMEFRAMES as readonly string[]).includes(timeframe)) throw invalid('timeframe', `timeframe must be one of ${TIMEFRAMES.join(', ')}`);
  if (!isTimeZone(tz)) throw invalid('tz', 'tz must be an IANA time zone, such as Europe/Paris');

  let period: Period;
  if (timeframe === 'custom') {
    if (from === undefined) throw invalid('from', 'from is required with timeframe=custom (YYYY-MM-DD)');
    if (to === undefined) throw invalid('to', 'to is required with timeframe=custom (YYYY-MM-DD)');
    if (!isCalendarDate(from)) throw invalid('from', 'from must be a date, YYYY-MM-DD');
    if (!isCalendarDate(to)) throw invalid('to', 'to must be a date, YYYY-MM-DD');
    const days = daysBetween(from, to) + 1;
    if (days < 1) throw invalid('to', 'to must not be before from');
    if (days > MAX_CUSTOM_DAYS) throw invalid('to', `a custom period spans at most ${MAX_CUSTOM_DAYS} days`);
    period = { start: from, end: to, days };
  } else {
    if (from !== undefined) throw invalid('from', 'from is only taken with timeframe=custom');
    if (to !== undefined) throw invalid('to', 'to is only taken with timeframe=custom');
    const days = Number(timeframe.slice(0, -1));
    const end = todayIn(tz, now);
    period = { start: addDays(end, 1 - days), end, days };
  }
  const previous = { start: addDays(period.start, -period.days), end: addDays(period.start, -1), days: period.days };
  return { timeframe: timeframe as Timeframe, tz, period, previous };
}
