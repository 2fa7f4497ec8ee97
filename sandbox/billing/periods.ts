import type Stripe from 'stripe';

/**
 * Adds billing intervals in UTC calendar terms, as Stripe does: a month later keeps the day of
 * month, clamped to the month's last day (Jan 31 -> Feb 28/29), anchored on the first date.
 */
export function addInterval(anchor: number, interval: Stripe.Price.Recurring.Interval, count: number, times = 1): number {
  const n = count * times;
  switch (interval) {
    case 'day':
      return anchor + n * 86_400;
    case 'week':
      return anchor + n * 7 * 86_400;
    case 'month':
      return addMonths(anchor, n);
    case 'year':
      return addMonths(anchor, n * 12);
    default:
      throw new Error(`Unsupported interval ${String(interval)}`);
  }
}

function addMonths(anchor: number, months: number): number {
  const d = new Date(anchor * 1000);
  const targetMonth = d.getUTCMonth() + months;
  const year = d.getUTCFullYear() + Math.floor(targetMonth / 12);
  const month = ((targetMonth % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(d.getUTCDate(), lastDay);
  return Math.floor(Date.UTC(year, month, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000);
}
