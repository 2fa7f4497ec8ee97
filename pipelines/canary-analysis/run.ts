import type { ECSClient } from '@aws-sdk/client-ecs';
import { ALARMS } from '../../infra/alarm-catalog';
import type { ReportRow } from '../../scripts/lib/report';
import { isTransientAwsError } from '../lib/aws';
import type { StepClock } from '../lib/clock';
import type { StepResult } from '../lib/step';
import { MetricsNotReadyError, type MetricSource, type MetricWindow, type Side, type SideFigures } from './metric-source';
import { stopInProgressDeployment, type StopOutcome } from './stop-deployment';
import { judge, type MetricName, type Thresholds, type Verdict } from './verdict';

/** The step's inputs, checked by the entry (main.ts); the workflow passes them snake_case. */
export interface Inputs {
  region: string;
  cluster: string;
  service: string;
  environment: string;
  /** `app/<name>/<id>` */
  loadBalancer: string;
  /** `targetgroup/<name>/<id>`: where the canary's tasks are, and where the old tasks are. */
  candidateTargetGroup: string;
  stableTargetGroup: string;
  /** SERVICE_VERSION of each side: the EMF `ServiceVersion` dimension value. */
  candidateVersion: string;
  stableVersion: string;
  bakeSeconds: number;
  pollSeconds: number;
  thresholds: Thresholds;
  stopOnFail: boolean;
}

export interface Deps {
  metrics: MetricSource;
  ecs: ECSClient;
  clock: StepClock;
}

/** The runbook page of the alarm watching the same signal, for the on-call engineer's next read. */
const RUNBOOK: Record<MetricName, string> = {
  '5xx_rate': ALARMS.alb5xxRate.slug,
  p99_latency: ALARMS.targetP99Latency.slug,
  payment_failure_rate: ALARMS.paymentFailureRate.slug,
  webhook_failure_rate: ALARMS.webhookFailureRate.slug,
};

interface Reading {
  window: MetricWindow;
  figures: Record<Side, SideFigures>;
  verdict: Verdict;
}

/** A poll worth missing: throttled, AWS 5xx, or the source's data not complete yet. */
const isMissedPoll = (error: unknown) => error instanceof MetricsNotReadyError || isTransientAwsError(error);

/**
 * Bakes the canary: every poll_seconds reads both sides over the window since the step started and
 * judges them; a conclusive failure ends the bake at once (and stops the deployment with ROLLBACK
 * when stop_on_fail), otherwise the last reading at bake_seconds decides. A failed poll that is
 * worth retrying is a missed poll; any other error ends the step (the message says which call).
 */
export async function run(inputs: Inputs, deps: Deps): Promise<StepResult> {
  const { clock } = deps;
  const started = clock.now();
  const deadline = started + inputs.bakeSeconds * 1000;
  const rows: ReportRow[] = [];
  let last: Reading | undefined;
  let polls = 0;
  let missed = 0;

  while (clock.now() < deadline && last?.verdict.verdict !== 'fail') {
    await clock.sleep(Math.min(inputs.pollSeconds * 1000, deadline - clock.now()));
    polls += 1;
    const window = { start: new Date(started), end: new Date(clock.now()) };
    try {
      const [candidate, stable] = await Promise.all([deps.metrics.read('candidate', window), deps.metrics.read('stable', window)]);
      last = { window, figures: { candidate, stable }, verdict: judge(candidate, stable, inputs.thresholds) };
    } catch (error) {
      if (!isMissedPoll(error)) throw error;
      missed += 1;
      rows.push({ name: `poll ${polls}`, ok: true, found: `missed (${errorText(error)}); the next poll reads the whole window again` });
    }
  }

  const elapsedMs = clock.now() - started;
  const bakeRow = (ok: boolean, found: string): ReportRow => ({ name: 'bake', ok, found, durationMs: elapsedMs });
  const pollText = `${polls} poll${polls === 1 ? '' : 's'}${missed ? `, ${missed} missed` : ''}`;
  if (!last) {
    rows.unshift(bakeRow(false, `${pollText}: no poll read the metrics`));
    return {
      ok: false,
      summary: `no figures: every one of ${polls} polls over ${inputs.bakeSeconds} s failed to read the metrics, so the canary ${inputs.candidateVersion} was not judged and not stopped; re-run the analysis or decide by hand from the dashboards`,
      rows,
      outputs: { verdict: 'inconclusive', reason: 'no poll read the metrics', figures: JSON.stringify({ polls, missed }), rollback_requested: false },
    };
  }

  const { verdict } = last;
  const early = verdict.verdict === 'fail' && clock.now() < deadline;
  const to = last.window.end.toISOString();
  rows.unshift(bakeRow(true, `${pollText}; figures ${last.window.start.toISOString()} to ${to}${early ? ' (ended early: a metric failed)' : ''}`));
  for (const j of verdict.judgements)
    rows.push({ name: j.metric, ok: j.outcome !== 'fail', found: j.message, ...(j.outcome === 'fail' ? { fix: `see runbooks/${RUNBOOK[j.metric]}.md` } : {}) });

  const outputs = (rollbackRequested: boolean) => ({ verdict: verdict.verdict, reason: verdict.reason, figures: figuresJson(inputs, last!), rollback_requested: rollbackRequested });
  const versions = `candidate ${inputs.candidateVersion} vs stable ${inputs.stableVersion}`;

  if (verdict.verdict === 'pass') {
    return { ok: true, summary: `pass: ${versions}, every metric within its limit over ${Math.round(elapsedMs / 1000)} s`, rows, outputs: outputs(false) };
  }
  if (verdict.verdict === 'inconclusive') {
    const thin = verdict.judgements.filter((j) => j.outcome === 'inconclusive').map((j) => j.metric).join(', ');
    rows.push({ name: 'verdict', ok: true, found: `WARNING inconclusive: too little traffic to judge ${thin}; not a failure, the workflow decides` });
    return {
      ok: true,
      summary: `inconclusive (not a failure): ${versions}, too little traffic over ${Math.round(elapsedMs / 1000)} s to judge ${thin}; nothing failed and nothing was stopped: the workflow decides whether to promote, bake longer or roll back`,
      rows,
      outputs: outputs(false),
    };
  }

  const failedMetrics = verdict.judgements.filter((j) => j.outcome === 'fail').map((j) => j.metric);
  const stop: StopOutcome | undefined = inputs.stopOnFail ? await stopInProgressDeployment(deps.ecs, { cluster: inputs.cluster, service: inputs.service }) : undefined;
  let next: string;
  if (!stop) {
    rows.push({ name: 'rollback', ok: true, found: 'not requested: stop_on_fail is false' });
    next = 'stop_on_fail is false, so the deployment was left running: the rollback workflow must run';
  } else if (stop.stopped) {
    rows.push({ name: 'rollback', ok: true, found: `StopServiceDeployment ROLLBACK requested for ${stop.serviceDeploymentArn}` });
    next = `ECS is rolling ${inputs.service} back to the previous revision (StopServiceDeployment ROLLBACK of ${stop.serviceDeploymentArn}); the rollback workflow takes it from there`;
  } else {
    rows.push({ name: 'rollback', ok: false, found: `not requested: ${stop.why}`, fix: 'run the rollback workflow' });
    next = `no deployment was stopped (${stop.why}): the rollback workflow must run`;
  }
  return {
    ok: false,
    summary: `fail on ${failedMetrics.join(', ')}${early ? ` after ${Math.round(elapsedMs / 1000)} s of the ${inputs.bakeSeconds} s bake` : ''}: ${verdict.reason}. ${next}; read runbooks/${RUNBOOK[failedMetrics[0]!]}.md`,
    rows,
    outputs: outputs(stop?.stopped ?? false),
  };
}

/** Both sides' numbers and each metric's judgement, for later jobs and the release summary. */
function figuresJson(inputs: Inputs, reading: Reading): string {
  return JSON.stringify({
    window: { start: reading.window.start.toISOString(), end: reading.window.end.toISOString() },
    candidate: { version: inputs.candidateVersion, targetGroup: inputs.candidateTargetGroup, ...reading.figures.candidate },
    stable: { version: inputs.stableVersion, targetGroup: inputs.stableTargetGroup, ...reading.figures.stable },
    metrics: reading.verdict.judgements.map(({ metric, outcome, candidate, stable, limit, sample }) => ({ metric, outcome, candidate, stable, limit, sample })),
  });
}

const errorText = (error: unknown): string => {
  const e = error as { name?: string; message?: string };
  return [e?.name, e?.message].filter(Boolean).join(': ') || String(error);
};
