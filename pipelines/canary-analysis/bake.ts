import type { ECSClient } from '@aws-sdk/client-ecs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ALARMS } from '../../infra/alarm-catalog';
import type { ReportRow } from '../../scripts/lib/report';
import { isTransientAwsError } from '../lib/aws';
import type { StepClock } from '../lib/clock';
import type { StepResult } from '../lib/step';
import { describeWeights, groupName, readWeights } from './listener-weights';
import { MetricsNotReadyError, type MetricSource, type MetricWindow, type Side, type SideFigures } from './metric-source';
import { stopInProgressDeployment, type StopOutcome } from './stop-deployment';
import { judge, type MetricName, type Thresholds, type Verdict } from './verdict';
import { errorText } from './wait-for-canary';

/** What the bake needs from the step's inputs. */
export interface BakeSettings {
  cluster: string;
  service: string;
  /** SERVICE_VERSION of each side: the EMF `ServiceVersion` dimension value. */
  candidateVersion: string;
  stableVersion: string;
  bakeSeconds: number;
  pollSeconds: number;
  thresholds: Thresholds;
  stopOnFail: boolean;
}

export interface BakePlan {
  metrics: MetricSource;
  /** The target group dimension values the figures are read for. */
  candidateTargetGroup: string;
  stableTargetGroup: string;
  /** Epoch ms: the metrics window starts here (the candidate group had no traffic before it). */
  windowStart: number;
  /** Epoch ms: bake_seconds count from here. */
  bakeStart: number;
  /** Rows of what came before the bake (the wait for the canary), reported first. */
  before: ReportRow[];
  /** The step's `candidate_target_group` / `stable_target_group` outputs (ARNs or dimension values). */
  outputs: { candidate_target_group: string; stable_target_group: string };
  /** When ECS's listener rule is known: watched every poll, the bake ends once the canary phase does. */
  watch?: { ruleArn: string; candidateArn: string; stableArn: string };
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

/** Why the bake stopped polling before bake_seconds without a failed metric: ECS ended the canary phase. */
type WindowOver = { kind: 'promoted' | 'returned'; afterMs: number; weights: string };

/** A poll worth missing: throttled, AWS 5xx, or the source's data not complete yet. */
const isMissedPoll = (error: unknown) => error instanceof MetricsNotReadyError || isTransientAwsError(error);

/**
 * Bakes the canary: every poll_seconds reads both sides over the window since `windowStart` and
 * judges them; a conclusive failure ends the bake at once (and stops the deployment with ROLLBACK
 * when stop_on_fail), otherwise the last reading at bake_seconds decides. With a watched listener
 * rule, the bake also ends when ECS moves all traffic to the candidate (it promoted the canary after
 * its own canary bake) or back to stable (it rolled the canary back): the canary window is over and
 * what was collected is judged. A failed poll worth retrying is a missed poll; any other error ends
 * the step (the message says which call).
 */
export async function bake(settings: BakeSettings, plan: BakePlan, deps: { ecs: ECSClient; elb?: ElasticLoadBalancingV2Client; clock: StepClock }): Promise<StepResult> {
  const { clock } = deps;
  const deadline = plan.bakeStart + settings.bakeSeconds * 1000;
  const rows: ReportRow[] = [];
  let last: Reading | undefined;
  let over: WindowOver | undefined;
  let polls = 0;
  let missed = 0;

  while (clock.now() < deadline && last?.verdict.verdict !== 'fail' && !over) {
    await clock.sleep(Math.min(settings.pollSeconds * 1000, deadline - clock.now()));
    polls += 1;
    const window = { start: new Date(plan.windowStart), end: new Date(clock.now()) };
    try {
      const [candidate, stable] = await Promise.all([plan.metrics.read('candidate', window), plan.metrics.read('stable', window)]);
      last = { window, figures: { candidate, stable }, verdict: judge(candidate, stable, settings.thresholds) };
    } catch (error) {
      if (!isMissedPoll(error)) throw error;
      missed += 1;
      rows.push({ name: `poll ${polls}`, ok: true, found: `missed (${errorText(error)}); the next poll reads the whole window again` });
    }
    if (plan.watch && deps.elb) over = await canaryPhaseOver(deps.elb, plan.watch, clock.now() - plan.bakeStart, rows, polls);
  }

  const elapsedMs = clock.now() - plan.bakeStart;
  const bakeRow = (ok: boolean, found: string): ReportRow => ({ name: 'bake', ok, found, durationMs: elapsedMs });
  const pollText = `${polls} poll${polls === 1 ? '' : 's'}${missed ? `, ${missed} missed` : ''}`;
  const outputs = (o: { verdict: string; reason: string; figures: string; rollbackRequested: boolean }) =>
    ({ verdict: o.verdict, reason: o.reason, figures: o.figures, rollback_requested: o.rollbackRequested, ...plan.outputs });
  if (over) rows.push(windowRow(over, plan));
  const returned = over?.kind === 'returned'
    ? `ECS moved all traffic back to ${plan.watch ? groupName(plan.watch.stableArn) : 'the stable group'} after ${Math.round(over.afterMs / 1000)} s of the bake (its own deployment alarms, or a stop, rolled the canary back): the rollback job runs; read runbooks/ecs-deployment-failed.md`
    : undefined;

  if (!last) {
    return {
      ok: false,
      summary: `no figures: every one of ${polls} polls over ${Math.round(elapsedMs / 1000)} s failed to read the metrics, so the canary ${settings.candidateVersion} was not judged and not stopped; ${returned ?? 're-run the analysis or decide by hand from the dashboards'}`,
      rows: [...plan.before, bakeRow(false, `${pollText}: no poll read the metrics`), ...rows],
      outputs: outputs({ verdict: 'inconclusive', reason: 'no poll read the metrics', figures: JSON.stringify({ polls, missed }), rollbackRequested: false }),
    };
  }

  const { verdict } = last;
  const early = clock.now() < deadline ? (verdict.verdict === 'fail' ? ' (ended early: a metric failed)' : over ? ' (ended early: the canary window is over)' : '') : '';
  const judged = [...plan.before, bakeRow(true, `${pollText}; figures ${last.window.start.toISOString()} to ${last.window.end.toISOString()}${early}`), ...rows];
  for (const j of verdict.judgements)
    judged.push({ name: j.metric, ok: j.outcome !== 'fail', found: j.message, ...(j.outcome === 'fail' ? { fix: `see runbooks/${RUNBOOK[j.metric]}.md` } : {}) });
  const figures = figuresJson(settings, plan, last);
  const versions = `candidate ${settings.candidateVersion} vs stable ${settings.stableVersion}`;
  const seconds = Math.round(elapsedMs / 1000);
  const promoted = over?.kind === 'promoted' ? ` (ECS promoted the canary after ${seconds} s, before bake_seconds ${settings.bakeSeconds}: the canary window was judged)` : '';

  if (verdict.verdict !== 'fail' && returned) {
    return { ok: false, summary: `${verdict.verdict} over the canary window (${verdict.reason}), but ${returned}`, rows: judged, outputs: outputs({ ...verdict, figures, rollbackRequested: false }) };
  }
  if (verdict.verdict === 'pass') {
    return { ok: true, summary: `pass: ${versions}, every metric within its limit over ${seconds} s${promoted}`, rows: judged, outputs: outputs({ ...verdict, figures, rollbackRequested: false }) };
  }
  if (verdict.verdict === 'inconclusive') {
    const thin = verdict.judgements.filter((j) => j.outcome === 'inconclusive').map((j) => j.metric).join(', ');
    judged.push({ name: 'verdict', ok: true, found: `WARNING inconclusive: too little traffic to judge ${thin}; not a failure, the workflow decides` });
    return {
      ok: true,
      summary: `inconclusive (not a failure): ${versions}, too little traffic over ${seconds} s to judge ${thin}${promoted}; nothing failed and nothing was stopped: the workflow decides whether to promote, bake longer or roll back`,
      rows: judged,
      outputs: outputs({ ...verdict, figures, rollbackRequested: false }),
    };
  }

  const failedMetrics = verdict.judgements.filter((j) => j.outcome === 'fail').map((j) => j.metric);
  const stop: StopOutcome | undefined = settings.stopOnFail ? await stopInProgressDeployment(deps.ecs, { cluster: settings.cluster, service: settings.service }) : undefined;
  let next: string;
  if (!stop) {
    judged.push({ name: 'rollback', ok: true, found: 'not requested: stop_on_fail is false' });
    next = 'stop_on_fail is false, so the deployment was left running: the rollback workflow must run';
  } else if (stop.stopped) {
    judged.push({ name: 'rollback', ok: true, found: `StopServiceDeployment ROLLBACK requested for ${stop.serviceDeploymentArn}` });
    next = `ECS is rolling ${settings.service} back to the previous revision (StopServiceDeployment ROLLBACK of ${stop.serviceDeploymentArn}); the rollback workflow takes it from there`;
  } else {
    judged.push({ name: 'rollback', ok: false, found: `not requested: ${stop.why}`, fix: 'run the rollback workflow' });
    next = `no deployment was stopped (${stop.why}): the rollback workflow must run`;
  }
  return {
    ok: false,
    summary: `fail on ${failedMetrics.join(', ')}${verdict.verdict === 'fail' && early ? ` after ${seconds} s of the ${settings.bakeSeconds} s bake` : ''}: ${verdict.reason}. ${next}; read runbooks/${RUNBOOK[failedMetrics[0]!]}.md`,
    rows: judged,
    outputs: outputs({ ...verdict, figures, rollbackRequested: stop?.stopped ?? false }),
  };
}

/**
 * Reads the listener rule after a poll: all traffic on the candidate (ECS promoted it) or back on
 * stable (ECS rolled it back) ends the canary window. A throttled read is skipped until the next poll.
 */
async function canaryPhaseOver(elb: ElasticLoadBalancingV2Client, watch: NonNullable<BakePlan['watch']>, afterMs: number, rows: ReportRow[], poll: number): Promise<WindowOver | undefined> {
  try {
    const weights = await readWeights(elb, watch.ruleArn, [watch.candidateArn, watch.stableArn]);
    if (weights[watch.candidateArn]! >= 100) return { kind: 'promoted', afterMs, weights: describeWeights(weights) };
    if (weights[watch.candidateArn] === 0 && weights[watch.stableArn]! > 0) return { kind: 'returned', afterMs, weights: describeWeights(weights) };
    return undefined;
  } catch (error) {
    if (!isTransientAwsError(error)) throw error;
    rows.push({ name: `poll ${poll} listener rule`, ok: true, found: `not read (${errorText(error)}); the next poll reads it again` });
    return undefined;
  }
}

function windowRow(over: WindowOver, plan: BakePlan): ReportRow {
  const seconds = Math.round(over.afterMs / 1000);
  if (over.kind === 'promoted')
    return { name: 'canary window', ok: true, found: `over after ${seconds} s of the bake: ECS shifted all traffic to the candidate (${over.weights}) after its own canary bake; the figures collected until then are judged` };
  return {
    name: 'canary window', ok: false, found: `over after ${seconds} s of the bake: traffic is back on the stable group (${over.weights}), ECS rolled the canary back`,
    fix: `see runbooks/ecs-deployment-failed.md; the analysis judged ${plan.candidateTargetGroup} up to then`,
  };
}

/** Both sides' numbers and each metric's judgement, for later jobs and the release summary. */
function figuresJson(settings: BakeSettings, plan: BakePlan, reading: Reading): string {
  return JSON.stringify({
    window: { start: reading.window.start.toISOString(), end: reading.window.end.toISOString() },
    candidate: { version: settings.candidateVersion, targetGroup: plan.candidateTargetGroup, ...reading.figures.candidate },
    stable: { version: settings.stableVersion, targetGroup: plan.stableTargetGroup, ...reading.figures.stable },
    metrics: reading.verdict.judgements.map(({ metric, outcome, candidate, stable, limit, sample }) => ({ metric, outcome, candidate, stable, limit, sample })),
  });
}
