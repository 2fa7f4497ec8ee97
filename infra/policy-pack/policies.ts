import type { StackValidationPolicy } from '@pulumi/policy';
import { STACK_POLICIES, type PolicyResource } from '../policies';
import { fromPack } from './resources';

export interface PackContext {
  runbookExists: (file: string) => boolean;
  /** `pulumi preview` (the engine sets PULUMI_DRY_RUN for the pack), as opposed to `pulumi up`. */
  isPreview: boolean;
}

export const UNDECIDED_POLICY = 'decided-at-update';

/**
 * The pack's policies: every STACK_POLICIES entry, mandatory, reporting its violations. What a
 * policy cannot decide at preview (an unknown property) is listed by one advisory policy with the
 * policy's name, and is a mandatory violation of that policy at the update, when nothing may be
 * unknown any more. No policy reads the proxy itself, so none is ever downgraded to advisory by
 * @pulumi/policy's "can't run during preview".
 */
export function packPolicies(context: PackContext): StackValidationPolicy[] {
  const resourcesOf = (args: { resources: Parameters<typeof fromPack>[0][] }): PolicyResource[] => args.resources.map(fromPack);
  const policies: StackValidationPolicy[] = STACK_POLICIES.map((policy) => ({
    name: policy.name,
    description: policy.description,
    enforcementLevel: 'mandatory',
    validateStack: (args, reportViolation) => {
      const findings = policy.check(resourcesOf(args), context);
      for (const violation of findings.violations) reportViolation(violation);
      if (!context.isPreview) for (const item of findings.undecided) reportViolation(`still unknown at the update: ${item}`);
    },
  }));
  policies.push({
    name: UNDECIDED_POLICY,
    description: 'What the other policies could not decide during preview (unknown values); each is re-checked, mandatory, at the update',
    enforcementLevel: 'advisory',
    validateStack: (args, reportViolation) => {
      if (!context.isPreview) return;
      const resources = resourcesOf(args);
      for (const policy of STACK_POLICIES)
        for (const item of policy.check(resources, context).undecided) reportViolation(`${policy.name}: ${item}; re-checked at the update`);
    },
  });
  return policies;
}
