/**
 * Database work as a one-off task of the service's own image (`--in-cluster`): the operational
 * commands start it with ECS RunTask and a command override, because only the cluster reaches the
 * database. Configured like the service (the task definition's environment and secrets).
 *
 *   node dist/service/ops/task.js replay --since <ISO> [--types a,b] [--dry-run]
 *   node dist/service/ops/task.js rollups --check | --rebuild
 *   node dist/service/ops/task.js migrate
 *
 * Reports through the service's logger (JSON lines to CloudWatch, redacted); the last line is
 * `ops task finished` with the result. Exit codes: 0 done; 1 failed (or a check found
 * differences); 2 wrong invocation.
 */
import { parseArgs } from 'node:util';
import { checkRollups, rebuildRollups } from '../dashboard/rollup-check';
import { connectDependencies } from '../dependencies';
import { replayEvents } from '../reconciliation';
import { loadConfig } from '../shared/config';
import { migrateToLatest } from '../shared/db';
import { errorMessage } from '../shared/errors';
import { createLogger, type Logger } from '../shared/logger';
import { noopObserver } from '../shared/observer';

export const OPS_TASKS = ['replay', 'rollups', 'migrate'] as const;
export type OpsTask = (typeof OPS_TASKS)[number];

export interface OpsTaskRequest {
  task: OpsTask;
  args: string[];
}

/** The container command for a task (what RunTask's override carries). */
export function taskCommand(request: OpsTaskRequest): string[] {
  return ['node', 'dist/service/ops/task.js', request.task, ...request.args];
}

type Parsed = { task: 'replay'; since: Date; types?: string[]; dryRun: boolean } | { task: 'rollups'; rebuild: boolean } | { task: 'migrate' };

export function parseTask(argv: string[]): Parsed {
  const [task, ...rest] = argv;
  if (task === 'replay') {
    const { values } = parseArgs({ args: rest, strict: true, options: { since: { type: 'string' }, types: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } });
    const since = new Date(values.since ?? '');
    if (!values.since || Number.isNaN(since.getTime())) throw new Error('replay needs --since <ISO time>');
    return { task, since, ...(values.types ? { types: values.types.split(',') } : {}), dryRun: values['dry-run'] === true };
  }
  if (task === 'rollups') {
    const { values } = parseArgs({ args: rest, strict: true, options: { check: { type: 'boolean', default: false }, rebuild: { type: 'boolean', default: false } } });
    if (values.check === values.rebuild) throw new Error('rollups needs exactly one of --check, --rebuild');
    return { task, rebuild: values.rebuild === true };
  }
  if (task === 'migrate') {
    parseArgs({ args: rest, strict: true, options: {} });
    return { task };
  }
  throw new Error(`unknown task ${JSON.stringify(task)}: one of ${OPS_TASKS.join(', ')}`);
}

export async function runTask(argv: string[], env: NodeJS.ProcessEnv, logger?: Logger): Promise<number> {
  let parsed: Parsed;
  const config = loadConfig(env);
  const log = logger ?? createLogger({ level: config.logLevel, environment: config.env });
  try {
    parsed = parseTask(argv);
  } catch (error) {
    log.error('ops task refused', { error: errorMessage(error), argv });
    return 2;
  }
  const { database, store, stripe, close } = await connectDependencies(config, log, { poolMax: 2 });
  try {
    log.info('ops task started', { task: parsed.task });
    if (parsed.task === 'migrate') {
      const applied = await migrateToLatest(database.db);
      log.info('ops task finished', { task: 'migrate', ok: true, applied });
      return 0;
    }
    if (parsed.task === 'rollups') {
      const report = parsed.rebuild ? await rebuildRollups(database.db) : await checkRollups(database.db);
      const differences = report.differences.length + report.peopleDifferences.length;
      log.info('ops task finished', { task: 'rollups', ok: parsed.rebuild || differences === 0, mode: parsed.rebuild ? 'rebuild' : 'check', differences, rowsCompared: report.rowsCompared });
      return parsed.rebuild || differences === 0 ? 0 : 1;
    }
    const summary = await replayEvents({ db: database.db, stripe, store, config, logger: log, observer: noopObserver }, { since: parsed.since, types: parsed.types, dryRun: parsed.dryRun });
    log.info('ops task finished', { task: 'replay', ok: summary.failed === 0, ...summary, failures: summary.failures.slice(0, 20) });
    return summary.failed === 0 ? 0 : 1;
  } catch (error) {
    log.error('ops task failed', { task: parsed.task, error: errorMessage(error) });
    return 1;
  } finally {
    await close();
  }
}

if (require.main === module) {
  void runTask(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // Configuration errors name variables, never values (service/shared/config.ts); the logger redacts anyway.
      createLogger({}).error('ops task could not start', { error: errorMessage(error) });
      process.exitCode = 1;
    },
  );
}
