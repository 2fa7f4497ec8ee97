import { containersOf } from './secrets';
import { strategyOf } from './runtime';
import { PolicyResource, TYPES, Verdict, ofType } from './types';

/** The provider's create/update timeout for an ECS service when no custom timeout is set. */
export const PROVIDER_DEFAULT_TIMEOUT_SECONDS = 20 * 60;
/** Beyond the bakes: starting the new tasks, passing health checks, draining the old ones. */
export const STEADY_STATE_MARGIN_MINUTES = 10;

const minutes = (value: unknown): number => (value === undefined ? 0 : Number(value));

/** Minutes a deployment of `svc` spends baking by its declared strategy, or undefined while unknown. */
export function bakeMinutes(svc: PolicyResource, verdict: Verdict): number | undefined {
  const config = svc.props.deploymentConfiguration as
    | { bakeTimeInMinutes?: unknown; canaryConfiguration?: { canaryBakeTimeInMinutes?: unknown }; linearConfiguration?: { stepBakeTimeInMinutes?: unknown; stepPercent?: unknown } }
    | undefined;
  if (!verdict.known(svc, 'deploymentConfiguration', config)) return undefined;
  const strategy = strategyOf(svc);
  const bake = minutes(config?.bakeTimeInMinutes);
  if (strategy === 'CANARY') return minutes(config?.canaryConfiguration?.canaryBakeTimeInMinutes) + bake;
  if (strategy === 'LINEAR') {
    const linear = config?.linearConfiguration;
    return Math.ceil(100 / Number(linear?.stepPercent ?? 100)) * minutes(linear?.stepBakeTimeInMinutes) + bake;
  }
  if (strategy === 'BLUE_GREEN') return bake;
  return 0;
}

/**
 * A service that makes `pulumi up` wait for steady state gets create and update timeouts that
 * cover its declared bakes plus a margin (the provider's 20-minute default is shorter than a
 * canary bake plus the bake time, and a timed-out update leaves the stack behind the service),
 * and `sigintRollback`, so interrupting the wait rolls the deployment back.
 */
export function steadyStateWaitFitsBakes(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const svc of ofType(resources, TYPES.ecsService)) {
    const wait = svc.props.waitForSteadyState;
    if (!verdict.known(svc, 'waitForSteadyState', wait) || wait !== true) continue;
    if (verdict.known(svc, 'sigintRollback', svc.props.sigintRollback) && svc.props.sigintRollback !== true)
      verdict.fail(`${svc.name}: waits for steady state without sigintRollback`);
    const bakes = bakeMinutes(svc, verdict);
    if (bakes === undefined) continue;
    const timeouts = svc.options?.customTimeouts;
    if (!timeouts) {
      verdict.pending(svc, 'customTimeouts (resource options this runner does not see)');
      continue;
    }
    const needed = (bakes + STEADY_STATE_MARGIN_MINUTES) * 60;
    for (const op of ['create', 'update'] as const) {
      const seconds = timeouts[`${op}Seconds`] || PROVIDER_DEFAULT_TIMEOUT_SECONDS;
      if (seconds < needed)
        verdict.fail(`${svc.name}: ${op} timeout ${seconds} s is shorter than the bakes (${bakes} min) plus ${STEADY_STATE_MARGIN_MINUTES} min (${needed} s)`);
    }
  }
  return verdict;
}

interface HealthCheck {
  command?: unknown;
  interval?: unknown;
  timeout?: unknown;
  retries?: unknown;
  startPeriod?: unknown;
}
/** ECS's accepted ranges (seconds, retries); absent means ECS's default, which is inside them. */
export const HEALTH_CHECK_RANGES: Record<'interval' | 'timeout' | 'retries' | 'startPeriod', [number, number]> = {
  interval: [5, 300],
  timeout: [2, 60],
  retries: [1, 10],
  startPeriod: [0, 300],
};

/**
 * Every container has an ECS health check (ECS ignores the image's HEALTHCHECK): a CMD or
 * CMD-SHELL command with something to run, each setting within ECS's range, and a timeout shorter
 * than the interval (a check still running when the next starts counts as failed).
 */
export function containersHaveHealthChecks(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    for (const c of containersOf(td, verdict) ?? []) {
      const check = (c as { healthCheck?: HealthCheck }).healthCheck;
      const where = `${td.name}/${c.name}`;
      if (!check) {
        verdict.fail(`${where}: no health check`);
        continue;
      }
      const command = Array.isArray(check.command) ? (check.command as unknown[]) : [];
      if (!['CMD', 'CMD-SHELL'].includes(command[0] as string) || command.length < 2 || command.slice(1).some((part) => typeof part !== 'string' || part.trim() === ''))
        verdict.fail(`${where}: health check command must be CMD or CMD-SHELL followed by what to run`);
      for (const [key, [min, max]] of Object.entries(HEALTH_CHECK_RANGES)) {
        const value = check[key as keyof HealthCheck];
        if (value !== undefined && (typeof value !== 'number' || value < min || value > max))
          verdict.fail(`${where}: health check ${key} ${String(value)} is outside ECS's ${min}-${max}`);
      }
      const interval = typeof check.interval === 'number' ? check.interval : 30;
      const timeout = typeof check.timeout === 'number' ? check.timeout : 5;
      if (timeout >= interval) verdict.fail(`${where}: health check timeout ${timeout} s is not shorter than its interval ${interval} s`);
    }
  }
  return verdict;
}

