import type { SideFigures } from './metric-source';

/**
 * The canary verdict: a pure function of both sides' figures, so it is the same over CloudWatch,
 * over the rehearsal's local source and in its own unit tests.
 *
 * Each metric is judged against an absolute threshold AND relative to the stable version:
 *   candidate fails when candidate > max(threshold, RELATIVE_FACTOR × stable + epsilon)
 * The threshold is the floor of the limit, so a candidate within it always passes. Above it, the
 * candidate fails unless the old tasks are doing at least half as badly at the same time: what both
 * versions suffer (a Stripe incident failing payments everywhere) is not the release's doing, and
 * the alarms page for it; rolling back would not help. A metric whose candidate sample is below the
 * minimum is "inconclusive", never "pass", unless it is a rate whose failures already exceed the
 * limit over the whole minimum sample: then it fails (more traffic could not bring it back).
 */

export type Outcome = 'pass' | 'fail' | 'inconclusive';
export type MetricName = '5xx_rate' | 'p99_latency' | 'payment_failure_rate' | 'webhook_failure_rate';

export interface Thresholds {
  /** Fractions (0.02 = 2%). */
  max5xxRate: number;
  maxP99Ms: number;
  maxPaymentFailureRate: number;
  maxWebhookFailureRate: number;
  /** Requests a side needs before its 5xx rate and p99 mean anything. */
  minRequests: number;
  /** Payment attempts (and webhook deliveries) a side needs before its failure rate means anything. */
  minPayments: number;
}

/** How much worse than stable a candidate may be before the relative rule blames it. */
export const RELATIVE_FACTOR = 2;
/**
 * Added to RELATIVE_FACTOR × stable so a stable side at (almost) zero does not make the limit
 * (almost) zero: half a percentage point for rates, 100 ms for latency. Only matters once stable is
 * near the threshold; below that the threshold is the limit.
 */
export const EPSILON = { rate: 0.005, latencyMs: 100 } as const;

export interface Judgement {
  metric: MetricName;
  outcome: Outcome;
  /** The metric's value per side: a fraction for rates, milliseconds for latency; null = not measured. */
  candidate: number | null;
  stable: number | null;
  /** The limit the candidate was held to; null when it was not judged (inconclusive). */
  limit: number | null;
  sample: { candidate: number; stable: number; min: number };
  /** One sentence naming the metric and both sides' numbers. */
  message: string;
}

export interface Verdict {
  verdict: Outcome;
  judgements: Judgement[];
  /** The failing metrics' messages, else the inconclusive ones', else a pass sentence. */
  reason: string;
}

interface Spec {
  metric: MetricName;
  label: string;
  threshold: number;
  epsilon: number;
  /** The input that sets the minimum sample, named in the message. */
  minInput: 'min_requests' | 'min_payments';
  min: number;
  format(value: number): string;
}

interface SideReading {
  value: number | null;
  /** The sample the value was computed from (requests, attempts or deliveries). */
  sample: number;
  /** Rates only: the failures counted, for the rule that judges a thin sample (see judgeOne). */
  failures?: number;
  /** "12 of 200 requests": how the value came about, for the message. */
  describe: string;
}

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;
const millis = (v: number) => `${Math.round(v)} ms`;

function rate(failures: number, total: number, noun: string): SideReading {
  return { value: total > 0 ? failures / total : null, sample: total, failures, describe: `${failures} of ${total} ${noun}` };
}

function judgeOne(spec: Spec, candidate: SideReading, stable: SideReading): Judgement {
  const shown = (r: SideReading) => `${r.value === null ? 'n/a' : spec.format(r.value)} (${r.describe})`;
  const base = { metric: spec.metric, candidate: candidate.value, stable: stable.value, sample: { candidate: candidate.sample, stable: stable.sample, min: spec.min } };
  // A stable side below the minimum sample is no baseline: the candidate meets the threshold alone.
  const baseline = stable.sample >= spec.min ? stable.value : null;
  const relative = baseline === null ? null : RELATIVE_FACTOR * baseline + spec.epsilon;
  const limit = relative === null ? spec.threshold : Math.max(spec.threshold, relative);
  if (candidate.sample < spec.min || candidate.value === null) {
    // A thin sample can still be conclusive for a rate: when the failures counted already exceed the
    // limit over the whole minimum sample (as if every missing request had succeeded), no more traffic
    // could bring it back. A candidate that fails so fast that its health check takes it out of
    // traffic (a leak, a crash loop) shows exactly this: few requests, most of them failed.
    if (candidate.failures !== undefined && candidate.sample > 0 && candidate.failures / spec.min > limit) {
      return {
        ...base,
        outcome: 'fail',
        limit,
        message: `${spec.label} fails on a thin sample: candidate ${shown(candidate)}, ${candidate.failures} failures are above the limit ${spec.format(limit)} even over ${spec.minInput} ${spec.min} (as if the ${spec.min - candidate.sample} missing had all succeeded); stable ${shown(stable)}`,
      };
    }
    const why = candidate.sample < spec.min ? `${candidate.sample} is below ${spec.minInput} ${spec.min}` : 'no value was published';
    return { ...base, outcome: 'inconclusive', limit: null, message: `${spec.label} inconclusive: candidate ${shown(candidate)}, ${why}; stable ${shown(stable)}` };
  }
  const rule =
    baseline === null
      ? `threshold ${spec.format(spec.threshold)} only, stable below ${spec.minInput} ${spec.min}`
      : relative! > spec.threshold
        ? `${RELATIVE_FACTOR} × stable + ${spec.format(spec.epsilon)}, above the threshold ${spec.format(spec.threshold)}`
        : `threshold ${spec.format(spec.threshold)}`;
  const failed = candidate.value > limit;
  return {
    ...base,
    outcome: failed ? 'fail' : 'pass',
    limit,
    message: `${spec.label} ${failed ? 'fails' : 'passes'}: candidate ${shown(candidate)} ${failed ? 'above' : 'within'} the limit ${spec.format(limit)} (${rule}); stable ${shown(stable)}`,
  };
}

/** Judges every metric and combines them: any fail fails, else any inconclusive is inconclusive. */
export function judge(candidate: SideFigures, stable: SideFigures, t: Thresholds): Verdict {
  const latency = (f: SideFigures): SideReading => ({ value: f.p99Ms, sample: f.requests, describe: `p99 of ${f.requests} requests` });
  const judgements = [
    judgeOne(
      { metric: '5xx_rate', label: '5xx rate', threshold: t.max5xxRate, epsilon: EPSILON.rate, minInput: 'min_requests', min: t.minRequests, format: percent },
      rate(candidate.errors5xx, candidate.requests, 'requests'),
      rate(stable.errors5xx, stable.requests, 'requests'),
    ),
    judgeOne(
      { metric: 'p99_latency', label: 'p99 latency', threshold: t.maxP99Ms, epsilon: EPSILON.latencyMs, minInput: 'min_requests', min: t.minRequests, format: millis },
      latency(candidate),
      latency(stable),
    ),
    judgeOne(
      { metric: 'payment_failure_rate', label: 'payment failure rate', threshold: t.maxPaymentFailureRate, epsilon: EPSILON.rate, minInput: 'min_payments', min: t.minPayments, format: percent },
      rate(candidate.paymentFailures, candidate.paymentAttempts, 'payments'),
      rate(stable.paymentFailures, stable.paymentAttempts, 'payments'),
    ),
    // Webhook deliveries are as sparse as payments (one or two per payment), so the same minimum.
    judgeOne(
      { metric: 'webhook_failure_rate', label: 'webhook failure rate', threshold: t.maxWebhookFailureRate, epsilon: EPSILON.rate, minInput: 'min_payments', min: t.minPayments, format: percent },
      rate(candidate.webhookFailures, candidate.webhookDeliveries, 'webhook deliveries'),
      rate(stable.webhookFailures, stable.webhookDeliveries, 'webhook deliveries'),
    ),
  ];
  const failed = judgements.filter((j) => j.outcome === 'fail');
  const unsure = judgements.filter((j) => j.outcome === 'inconclusive');
  if (failed.length > 0) return { verdict: 'fail', judgements, reason: failed.map((j) => j.message).join('; ') };
  if (unsure.length > 0) return { verdict: 'inconclusive', judgements, reason: unsure.map((j) => j.message).join('; ') };
  return { verdict: 'pass', judgements, reason: 'every metric within its limit' };
}
