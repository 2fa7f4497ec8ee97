import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ECSClient } from '@aws-sdk/client-ecs';
import { bake } from '../canary-analysis/bake';
import type { Thresholds } from '../canary-analysis/verdict';
import { realClock } from '../lib/clock';
import { type Fault, type Gate, patchFor } from './catalog';
import { createEnvironment, type Environment, type Servers } from './environment';
import { waitForBoot, type ServiceProcess } from './fleet';
import { LocalMetricSource } from './local-metric-source';
import { startPopulation } from './population';
import { prove, waitForQuiet } from './proof';
import { PrerequisiteError, prepareRelease, type Release } from './releases';
import { localOpsEnv, smokeTransactions } from './steps';

const exec = promisify(execFile);

/**
 * The bake asks ECS for nothing when stop_on_fail is false and no listener rule is watched, as here
 * (the rehearsal's app-rollback is its own): any call would be a rehearsal bug, said as such.
 */
const NO_ECS = new Proxy({}, {
  get: (_target, property) => {
    throw new Error(`the rehearsal has no ECS: the bake used ecs.${String(property)}`);
  },
}) as ECSClient;

/**
 * One rehearsal of a release, in deploy.yml's order:
 *
 *   validation         both releases built from git (worktrees, cached installs), the fault's patch applied
 *   (production runs the stable release behind its balancer; the synthetic population starts)
 *   staging-deploy     the candidate alone in staging (its own database, Redis and Stripe): boots and passes /health/ready
 *   staging-smoke      smoke-transactions --mode full against staging
 *   production-deploy  the candidate's process in production, healthy behind the balancer at 10 %
 *   canary-analysis    the bake: canary-analysis's own bake and verdict over the local metric source
 *   (promotion: 100 % to the candidate)
 *   production-smoke   smoke-transactions --mode readonly against production
 *   proof              every event the sandbox sent is applied exactly once; the ledger equals Stripe
 *
 * A failed gate from production-deploy on triggers app-rollback: traffic back to the stable
 * release, the candidate stopped. A failure that touched payments in production (webhook or payment
 * failures, events left unapplied) also runs `npm run rollback` and `npm run restore` against
 * production, as the rollback workflow would. In staging nothing of production changed: the
 * rollback is stopping the candidate there.
 */

export interface RehearsalOptions {
  repo: string;
  stable: { label: string; commit: string };
  candidate: { label: string; commit: string };
  fault?: Fault;
  servers: Servers;
  bakeSeconds: number;
  pollSeconds: number;
  thresholds: Thresholds;
  users: number;
  /** Where this run's logs go (service logs, step reports). */
  runDir: string;
  runId: string;
  log: (line: string) => void;
  /** Registered undo actions; the caller runs them on Ctrl-C. */
  cleanups: Cleanups;
}

export type GateName = Gate | 'app-rollback' | 'ops-rollback-restore';

export interface GateReport {
  gate: GateName;
  result: 'pass' | 'fail' | 'skipped';
  seconds: number;
  summary: string;
  figures: Record<string, unknown>;
}

export interface RehearsalReport {
  run: { stable: string; candidate: string; fault: string | null; startedAt: string; wallSeconds: number };
  gates: GateReport[];
  caught: boolean;
  caughtAt: Gate | null;
  expectedGate: Gate | null;
  rolledBack: boolean;
  rollbackSeconds: number | null;
  eventsLost: number | null;
  /** True when the rehearsal ended as it should (see the exit codes in main.ts). */
  ok: boolean;
  /** One sentence: why ok or not. */
  verdict: string;
  logs: string;
}

/** Undo actions, run newest first, once; safe to call from a signal handler. */
export class Cleanups {
  private actions: { name: string; run: () => Promise<unknown> }[] = [];
  private done = false;
  add(name: string, run: () => Promise<unknown>): void {
    this.actions.push({ name, run });
  }
  async runAll(log: (line: string) => void = () => undefined): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const action of this.actions.reverse()) {
      try {
        await action.run();
      } catch (error) {
        log(`cleanup ${action.name} failed: ${(error as Error).message}`);
      }
    }
  }
}

/** The longest a rollback may take from the failed gate to the stable release alone at 100 %. */
export const ROLLBACK_LIMIT_SECONDS = 60;
/** A slow machine's bound for a process to become ready (it is about 2 s here). */
const BOOT_TIMEOUT_MS = 90_000;

export async function rehearse(options: RehearsalOptions): Promise<RehearsalReport> {
  const started = Date.now();
  const { log, cleanups } = options;
  const gates: GateReport[] = [];
  mkdirSync(options.runDir, { recursive: true });
  const stepLog = join(options.runDir, 'steps.log');
  let caughtAt: Gate | null = null;
  let rollback: { at: number; done?: number } | undefined;
  let proofLost: number | null = null;

  /** Runs a gate; returns false when it failed (the gate's own error is its summary). */
  const gate = async (name: GateName, body: () => Promise<{ ok: boolean; summary: string; figures?: Record<string, unknown> }>): Promise<boolean> => {
    const t0 = Date.now();
    log(`${name} ...`);
    let outcome: { ok: boolean; summary: string; figures?: Record<string, unknown> };
    try {
      outcome = await body();
    } catch (error) {
      // A missing prerequisite (a server, a patch that does not apply) is no gate's verdict: exit 2.
      if (error instanceof PrerequisiteError) throw error;
      outcome = { ok: false, summary: (error as Error).message };
    }
    const report: GateReport = { gate: name, result: outcome.ok ? 'pass' : 'fail', seconds: round((Date.now() - t0) / 1000), summary: outcome.summary, figures: outcome.figures ?? {} };
    gates.push(report);
    log(`${name} ${report.result} in ${report.seconds} s: ${outcome.summary}`);
    if (!outcome.ok && name !== 'app-rollback' && name !== 'ops-rollback-restore' && caughtAt === null) {
      caughtAt = name;
      rollback = { at: Date.now() };
    }
    return outcome.ok;
  };

  let stable!: Release;
  let candidate!: Release;
  let candidateProcess: ServiceProcess | undefined;
  const version = (r: Release) => `${r.commit.slice(0, 12)}${r.fault ? `-${r.fault}` : ''}`;

  const summarize = (): RehearsalReport => {
    const expected = options.fault?.gate ?? null;
    const rolledBack = rollback?.done !== undefined;
    // In milliseconds' precision: a local rollback takes tens of them, which one decimal would show as 0.
    const rollbackSeconds = rollback?.done !== undefined ? (rollback.done - rollback.at) / 1000 : null;
    let ok: boolean;
    let verdict: string;
    if (!options.fault) {
      ok = caughtAt === null && proofLost === 0;
      verdict = ok ? 'healthy candidate promoted through every gate, 0 events lost' : caughtAt ? `false alarm: the healthy candidate failed ${caughtAt}` : `the final proof failed: ${proofLost ?? 'unknown'} events lost or ledger mismatches`;
    } else if (caughtAt === null) {
      ok = false;
      verdict = `fault ${options.fault.name} was not caught by any gate (expected ${expected})`;
    } else if (caughtAt !== expected) {
      ok = false;
      verdict = `fault ${options.fault.name} was caught at ${caughtAt}, expected ${expected}`;
    } else if (!rolledBack) {
      ok = false;
      verdict = `fault ${options.fault.name} was caught at ${caughtAt} but not rolled back`;
    } else if (rollbackSeconds! > ROLLBACK_LIMIT_SECONDS) {
      ok = false;
      verdict = `fault ${options.fault.name} was caught at ${caughtAt}; the rollback took ${rollbackSeconds} s (limit ${ROLLBACK_LIMIT_SECONDS} s)`;
    } else if (proofLost !== 0) {
      ok = false;
      verdict = `fault ${options.fault.name} was caught at ${caughtAt} and rolled back, but the final proof failed (${proofLost ?? 'not run'})`;
    } else {
      ok = true;
      verdict = `fault ${options.fault.name} caught at ${caughtAt} as expected, rolled back in ${rollbackSeconds} s, 0 events lost`;
    }
    return {
      run: { stable: options.stable.label, candidate: options.candidate.label, fault: options.fault?.name ?? null, startedAt: new Date(started).toISOString(), wallSeconds: round((Date.now() - started) / 1000) },
      gates,
      caught: caughtAt !== null,
      caughtAt,
      expectedGate: expected,
      rolledBack,
      rollbackSeconds,
      eventsLost: proofLost,
      ok,
      verdict,
      logs: options.runDir,
    };
  };

  // ---- validation: both releases from git.
  const validated = await gate('validation', async () => {
    stable = await prepareRelease(options.repo, options.stable, log);
    candidate = await prepareRelease(options.repo, { ...options.candidate, ...(options.fault ? { fault: { name: options.fault.name, patch: patchFor(options.fault) } } : {}) }, log);
    return {
      ok: true,
      summary: `stable ${version(stable)}, candidate ${version(candidate)}`,
      figures: { stable: stable.commit, candidate: candidate.commit, fault: options.fault?.name ?? null },
    };
  });
  if (!validated) return summarize();

  // ---- production, on the stable release, with its users.
  const production = await createEnvironment({ name: 'production', runId: options.runId, servers: options.servers, redisDb: redisDbFor(options.runId, 0), logDir: options.runDir, clockStart: Math.floor(Date.now() / 1000) - 60 * 86_400 });
  cleanups.add('production environment', () => production.close());
  const stableProcess = await production.start('stable', stable, version(stable));
  const stableBoot = await waitForBoot(stableProcess, BOOT_TIMEOUT_MS);
  if (!stableBoot.ok) throw new Error(`the stable release ${version(stable)} does not start, so there is nothing to roll back to: ${stableBoot.why}`);
  production.balancer.setTarget('stable', stableProcess.url);
  production.balancer.setWeights({ stable: 100, candidate: 0 });
  await production.balancer.waitHealthy('stable', BOOT_TIMEOUT_MS);
  const population = startPopulation({ production, users: options.users });
  cleanups.add('population', () => population.stop());

  // ---- staging: the candidate alone.
  const staging = await createEnvironment({ name: 'staging', runId: options.runId, servers: options.servers, redisDb: redisDbFor(options.runId, 1), logDir: options.runDir });
  cleanups.add('staging environment', () => staging.close());
  let stagingProcess: ServiceProcess | undefined;
  const stagingRollback = async () => {
    await gate('app-rollback', async () => {
      await stagingProcess?.stop();
      staging.balancer.setWeights({ stable: 0, candidate: 0 });
      rollback!.done = Date.now();
      return { ok: true, summary: `staging: candidate stopped; production never left the stable release (${production.balancer.weights().stable} % stable)`, figures: { productionWeights: production.balancer.weights() } };
    });
  };

  const stagingDeployed = await gate('staging-deploy', async () => {
    stagingProcess = await staging.start('candidate', candidate, version(candidate));
    return deployCandidate(staging, stagingProcess, { stable: 0, candidate: 100 }, 'ready');
  });
  if (!stagingDeployed) {
    await stagingRollback();
    return afterFailure();
  }

  const stagingSmoke = await gate('staging-smoke', () => smokeGate(staging, 'full', stepLog));
  if (!stagingSmoke) {
    await stagingRollback();
    return afterFailure();
  }
  await staging.close();

  // ---- production: the canary.
  const appRollback = async () => {
    await gate('app-rollback', async () => {
      production.balancer.setWeights({ stable: 100, candidate: 0 });
      await production.balancer.waitHealthy('stable', 30_000);
      await candidateProcess?.stop();
      production.balancer.setTarget('candidate', undefined);
      rollback!.done = Date.now();
      return { ok: true, summary: `traffic back on stable ${version(stable)} (100 %), candidate stopped`, figures: { weights: production.balancer.weights() } };
    });
  };

  const deployed = await gate('production-deploy', async () => {
    candidateProcess = await production.start('candidate', candidate, version(candidate));
    return deployCandidate(production, candidateProcess, { stable: 90, candidate: 10 }, 'candidate ready');
  });
  if (!deployed) {
    await appRollback();
    return afterFailure();
  }

  const canary = await gate('canary-analysis', async () => {
    const source = new LocalMetricSource(production.balancer, (side) => production.processes[side]?.url);
    await source.begin();
    const now = Date.now();
    const bakeSeconds = Math.max(options.bakeSeconds, options.fault?.minBakeSeconds ?? 0);
    const result = await bake(
      {
        cluster: 'rehearsal', service: 'payments', candidateVersion: version(candidate), stableVersion: version(stable),
        bakeSeconds, pollSeconds: options.pollSeconds, thresholds: options.thresholds,
        // No ECS deployment to stop here: app-rollback is the rehearsal's own.
        stopOnFail: false,
      },
      { metrics: source, candidateTargetGroup: 'candidate', stableTargetGroup: 'stable', windowStart: now, bakeStart: now, before: [], outputs: { candidate_target_group: 'candidate', stable_target_group: 'stable' } },
      { ecs: NO_ECS, clock: realClock },
    );
    appendFileSync(stepLog, `${JSON.stringify({ step: 'canary-analysis', ...result }, null, 2)}\n`);
    const paymentHealth = { candidate: await source.paymentHealth('candidate'), stable: await source.paymentHealth('stable') };
    return { ok: result.ok, summary: result.summary, figures: { verdict: result.outputs.verdict, bakeSeconds, paymentHealth, ...parseJson(result.outputs.figures) } };
  });
  if (!canary) {
    await appRollback();
    return afterFailure();
  }

  production.balancer.setWeights({ stable: 0, candidate: 100 });
  log('promoted: candidate at 100 %');
  const productionSmoke = await gate('production-smoke', () => smokeGate(production, 'readonly', stepLog));
  if (!productionSmoke) {
    await appRollback();
    return afterFailure();
  }
  // The old tasks drain once the new ones carry everything.
  await stableProcess.stop();
  production.balancer.setTarget('stable', undefined);
  await finalProof();
  return summarize();

  /** After a caught fault: payments repaired when production was touched, then the proof. */
  async function afterFailure(): Promise<RehearsalReport> {
    if (caughtAt && ['production-deploy', 'canary-analysis', 'production-smoke'].includes(caughtAt)) {
      await population.stop();
      await waitForQuiet(production, 120_000);
      const touched = await paymentsTouched(production);
      if (touched) await gate('ops-rollback-restore', () => opsRollbackRestore(options, production!, touched));
    }
    await finalProof();
    return summarize();
  }

  async function finalProof(): Promise<void> {
    await population.stop();
    const figures = population.figures();
    await gate('proof', async () => {
      const quiet = await waitForQuiet(production!, 180_000);
      const proof = await prove(production!);
      proofLost = proof.eventsLost + proof.mismatchCount;
      return {
        ok: proof.ok && quiet,
        summary: proof.ok
          ? `${proof.eventsEmitted} events sent, ${proof.eventsApplied} applied once; ${proof.checked.subscriptions} subscriptions, ${proof.checked.invoices} paid invoices, ${proof.checked.charges} charges and ${proof.checked.users} users equal Stripe`
          : `${proof.eventsLost} events lost, ${proof.mismatchCount} ledger mismatches: ${proof.mismatches.join('; ')}${quiet ? '' : ' (the sandbox still had deliveries in flight)'}`,
        figures: { ...proof, population: figures },
      };
    });
  }
}

type GateOutcome = { ok: boolean; summary: string; figures?: Record<string, unknown> };

/** A candidate process in an environment: ready on its own, then behind the balancer at these weights and healthy there. */
async function deployCandidate(env: Environment, service: ServiceProcess, weights: { stable: number; candidate: number }, what: string): Promise<GateOutcome> {
  const boot = await waitForBoot(service, BOOT_TIMEOUT_MS);
  const figures = { bootSeconds: round(boot.ms / 1000) };
  if (!boot.ok) return { ok: false, summary: boot.why, figures };
  env.balancer.setTarget('candidate', service.url);
  env.balancer.setWeights(weights);
  await env.balancer.waitHealthy('candidate', BOOT_TIMEOUT_MS);
  const share = weights.stable > 0 ? `, taking ${weights.candidate} % of ${env.name}` : '';
  return { ok: true, summary: `${what} in ${figures.bootSeconds} s${share}`, figures: { ...figures, weights: env.balancer.weights() } };
}

/** smoke-transactions through its entry, as a gate. */
async function smokeGate(env: Environment, mode: 'full' | 'readonly', stepLog: string): Promise<GateOutcome> {
  const step = await smokeTransactions(env, mode, stepLog);
  return { ok: step.code === 0, summary: step.message, figures: { steps: parseJson(step.outputs.steps) } };
}

/** What in production the fault may have touched: webhook deliveries that failed or were never applied. */
async function paymentsTouched(env: Environment): Promise<string | undefined> {
  const attempts = env.sandbox.control.deliveries({ endpoint_id: env.endpoint.id });
  const failed = attempts.filter((a) => !a.succeeded).length;
  const proof = await prove(env);
  if (failed === 0 && proof.eventsLost === 0) return undefined;
  return `${failed} failed webhook deliveries, ${proof.eventsLost} events not applied`;
}

/**
 * The rollback workflow's payments half against the rehearsal's production: `npm run rollback`
 * (marker, webhook pause, maintenance, backup) then `npm run restore` (replay from the Events API,
 * resume and drain, maintenance off, the inbox proof), the repository's own commands with
 * `--env local` pointed at production's balancer and sandbox.
 */
async function opsRollbackRestore(options: RehearsalOptions, env: Environment, why: string) {
  const opsEnv = { ...process.env, ...localOpsEnv(env), DATABASE_URL: '', REDIS_URL: '' };
  const run = async (args: string[]) => {
    try {
      const { stdout } = await exec('npm', ['run', '-s', ...args], { cwd: options.repo, env: opsEnv, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 });
      return { code: 0, output: stdout };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  };
  const rolledBack = await run(['rollback', '--', '--env', 'local', '--reason', `rehearsal ${options.runId}: ${why}`.slice(0, 200), '--json']);
  appendFileSync(join(options.runDir, 'steps.log'), `npm run rollback (exit ${rolledBack.code})\n${rolledBack.output}\n`);
  const restored = await run(['restore', '--', '--env', 'local', '--json']);
  appendFileSync(join(options.runDir, 'steps.log'), `npm run restore (exit ${restored.code})\n${restored.output}\n`);
  return {
    ok: rolledBack.code === 0 && restored.code === 0,
    summary: `${why}: npm run rollback exit ${rolledBack.code}, npm run restore exit ${restored.code}`,
    figures: { rollbackExit: rolledBack.code, restoreExit: restored.code },
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

function parseJson(value: unknown): Record<string, unknown> {
  if (typeof value !== 'string' || value === '') return {};
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed) ? { list: parsed } : (parsed as Record<string, unknown>);
  } catch {
    return { raw: value };
  }
}

/** Redis database indexes 2-15 by run, two per run (production, staging); 0 and 1 are left to development and tests. */
function redisDbFor(runId: string, offset: 0 | 1): number {
  let h = 0;
  for (const c of runId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 2 + ((h % 7) * 2 + offset);
}
