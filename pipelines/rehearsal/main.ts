/**
 * `npm run rehearse`: the whole release on one machine (see run.ts for the gates).
 *
 *   npm run rehearse                               stable HEAD~1, candidate = the working tree, healthy
 *   npm run rehearse -- --fault checkout-5xx       the same candidate with a bad change from the catalogue
 *   npm run rehearse -- --all                      the healthy candidate three times, then every fault
 *   npm run rehearse -- --stable v1.2 --candidate HEAD --json
 *
 * Exit codes: 0 the rehearsal ended as it should (a healthy candidate promoted with 0 events lost;
 * a fault caught at its gate, rolled back within 60 s, 0 events lost); 1 otherwise; 2 a wrong
 * invocation or a missing prerequisite (named).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseFlags, UsageError } from '../../scripts/lib/cli';
import type { Thresholds } from '../canary-analysis/verdict';
import { FAULTS, findFault, type Fault } from './catalog';
import { findServers } from './environment';
import { PrerequisiteError, resolveRef, workingTreeCommit } from './releases';
import { Cleanups, rehearse, type RehearsalReport } from './run';

const REPO = join(__dirname, '..', '..');

const USAGE = `usage: npm run rehearse -- [--stable <ref>] [--candidate <ref>] [--fault <name> | --all] [--runs <n>] [--bake-seconds <s>] [--users <n>] [--json]
  --stable        the release in production before (default HEAD~1)
  --candidate     the release to roll out (default: the working tree, committed nowhere)
  --fault         a bad change from the catalogue: ${FAULTS.map((f) => f.name).join(', ')}
  --all           the healthy candidate --runs times (default 3), then every fault
  --bake-seconds  the canary bake (default 60; a fault may need longer, see catalog.ts)
  --users         the synthetic population's size (default 24)
  --json          one JSON object (one per run, in an array, with --all)`;

/** The canary thresholds production uses: deploy.yml's canary-analysis step inputs. */
export function productionThresholds(file = join(REPO, '.github', 'workflows', 'deploy.yml')): Thresholds {
  const workflow = parseYaml(readFileSync(file, 'utf8')) as { jobs: Record<string, { steps?: { id?: string; env?: Record<string, string> }[] }> };
  const env = workflow.jobs['canary-analysis']?.steps?.find((s) => s.id === 'canary')?.env;
  if (!env) throw new Error(`${file}: no canary-analysis job with a step id canary`);
  const number = (name: string) => {
    const value = Number(env[name]);
    if (!Number.isFinite(value)) throw new Error(`${file}: canary step input ${name} is not a number (${env[name]})`);
    return value;
  };
  return {
    max5xxRate: number('INPUT_MAX_5XX_RATE'),
    maxP99Ms: number('INPUT_MAX_P99_MS'),
    maxPaymentFailureRate: number('INPUT_MAX_PAYMENT_FAILURE_RATE'),
    maxWebhookFailureRate: number('INPUT_MAX_WEBHOOK_FAILURE_RATE'),
    minRequests: number('INPUT_MIN_REQUESTS'),
    minPayments: number('INPUT_MIN_PAYMENTS'),
  };
}

export interface Invocation {
  stable: string;
  candidate?: string;
  faults: (Fault | undefined)[];
  json: boolean;
  bakeSeconds: number;
  users: number;
}

export function parseInvocation(argv: string[]): Invocation {
  const flags = parseFlags(argv, {
    stable: { type: 'string', default: 'HEAD~1' },
    candidate: { type: 'string' },
    fault: { type: 'string' },
    all: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    'bake-seconds': { type: 'string', default: '60' },
    users: { type: 'string', default: '24' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (flags.help) throw new UsageError('');
  const int = (name: string, value: string, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return n;
  };
  if (flags.all && flags.fault) throw new UsageError('--all runs every fault: give --fault or --all, not both');
  let faults: (Fault | undefined)[];
  if (flags.all) faults = [...Array.from({ length: int('runs', flags.runs, 1, 10) }, () => undefined), ...FAULTS];
  else if (flags.fault) {
    const fault = findFault(flags.fault);
    if (!fault) throw new UsageError(`--fault must be one of ${FAULTS.map((f) => f.name).join(', ')} (got ${JSON.stringify(flags.fault)})`);
    faults = [fault];
  } else faults = [undefined];
  return { stable: flags.stable, ...(flags.candidate ? { candidate: flags.candidate } : {}), faults, json: flags.json, bakeSeconds: int('bake-seconds', flags['bake-seconds'], 10, 3600), users: int('users', flags.users, 1, 500) };
}

/** The table people read: one line per gate, then the outcome. */
export function formatReport(report: RehearsalReport): string {
  const head = `rehearsal: stable ${report.run.stable} -> candidate ${report.run.candidate}${report.run.fault ? ` with fault ${report.run.fault} (expected at ${report.expectedGate})` : ' (healthy)'}`;
  const rows = report.gates.map((g) => `  ${g.result === 'pass' ? 'ok    ' : g.result === 'fail' ? 'FAILED' : 'skip  '} ${g.gate.padEnd(22)} ${String(g.seconds).padStart(6)} s  ${g.summary.slice(0, 220)}`);
  const tail = `${report.ok ? 'PASS' : 'FAIL'}: ${report.verdict} (${report.run.wallSeconds} s; logs in ${report.logs})`;
  return [head, ...rows, tail, ''].join('\n');
}

export async function main(argv: string[], io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv }, cleanups = new Cleanups()): Promise<number> {
  try {
    return await rehearseAll(argv, io, cleanups);
  } finally {
    // What outlives a run (a redis-server started for the rehearsal) goes with the command.
    await cleanups.runAll((line) => io.err(`${line}\n`));
  }
}

async function rehearseAll(argv: string[], io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv }, cleanups: Cleanups): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${error.message ? `rehearse: ${error.message}\n` : ''}${USAGE}\n`);
    return 2;
  }
  const log = invocation.json ? (line: string) => io.err(`${line}\n`) : (line: string) => io.out(`  · ${line}\n`);
  let servers;
  let stable: string;
  let candidate: string;
  let thresholds: Thresholds;
  try {
    servers = await findServers(io.env, cleanups);
    stable = await resolveRef(REPO, invocation.stable);
    candidate = invocation.candidate ? await resolveRef(REPO, invocation.candidate) : await workingTreeCommit(REPO);
    thresholds = productionThresholds();
  } catch (error) {
    io.err(`rehearse: ${(error as Error).message}\n`);
    return error instanceof PrerequisiteError ? 2 : 1;
  }
  log(`servers: ${servers.source}`);
  const reports: RehearsalReport[] = [];
  for (const fault of invocation.faults) {
    const runId = `${new Date().toISOString().replace(/\D/g, '').slice(2, 14)}${randomBytes(2).toString('hex')}`;
    const runCleanups = new Cleanups();
    cleanups.add(`run ${runId}`, () => runCleanups.runAll(log));
    let report: RehearsalReport;
    try {
      report = await rehearse({
        repo: REPO,
        stable: { label: invocation.stable, commit: stable },
        candidate: { label: invocation.candidate ?? 'working tree', commit: candidate },
        ...(fault ? { fault } : {}),
        servers,
        bakeSeconds: invocation.bakeSeconds,
        pollSeconds: 5,
        thresholds,
        users: invocation.users,
        runDir: join(REPO, '.rehearsal', 'runs', runId),
        runId,
        log,
        cleanups: runCleanups,
      });
    } catch (error) {
      await runCleanups.runAll(log);
      io.err(`rehearse: ${(error as Error).message}\n`);
      return error instanceof PrerequisiteError ? 2 : 1;
    }
    await runCleanups.runAll(log);
    reports.push(report);
    if (!invocation.json) io.out(formatReport(report));
  }
  if (invocation.json) io.out(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  else if (reports.length > 1) io.out(`\n${reports.filter((r) => r.ok).length} of ${reports.length} rehearsals ended as they should\n`);
  return reports.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) {
  const cleanups = new Cleanups();
  let interrupted = false;
  const interrupt = (signal: string) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the rehearsal's processes and environments…\n`);
    void cleanups.runAll((line) => process.stderr.write(`${line}\n`)).finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupt('SIGINT'));
  process.once('SIGTERM', () => interrupt('SIGTERM'));
  void main(process.argv.slice(2), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env }, cleanups).then((code) => {
    process.exit(code);
  });
}
