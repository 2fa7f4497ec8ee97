import type { PolicyResource } from '../../infra/policies';
import type { ProgramRun } from './harness';

/** Seconds in a Go duration as Pulumi records custom timeouts (`1h30m`, `45m`, `90s`). */
export function durationSeconds(duration: string | undefined): number {
  let seconds = 0;
  for (const [, amount, unit] of (duration ?? '').matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)) seconds += Number(amount) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's'];
  return seconds;
}

/**
 * The program's resources as the policy pack sees them: properties, and custom timeouts in
 * seconds (0 = the provider's default), the way @pulumi/policy reports resource options.
 */
export function policyView(run: ProgramRun): PolicyResource[] {
  return run.resources.map((r) => {
    const timeouts = (r as { customTimeouts?: { create?: string; update?: string; delete?: string } }).customTimeouts;
    return {
      type: r.type,
      name: r.name,
      props: r.props,
      options: r.options ?? {
        customTimeouts: { createSeconds: durationSeconds(timeouts?.create), updateSeconds: durationSeconds(timeouts?.update), deleteSeconds: durationSeconds(timeouts?.delete) },
      },
    };
  });
}
