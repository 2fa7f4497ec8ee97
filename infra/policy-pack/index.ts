import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyPack } from '@pulumi/policy';
import { STACK_POLICIES } from '../policies';

/**
 * `pulumi preview --policy-pack infra/policy-pack` where the CLI exists. The rules are the plain
 * functions in infra/policies (unit-tested in test/infra); this file only adapts them.
 */
const runbooksDir = join(__dirname, '..', '..', 'runbooks');

new PolicyPack('upiik-payments', {
  policies: STACK_POLICIES.map((policy) => ({
    name: policy.name,
    description: policy.description,
    enforcementLevel: 'mandatory' as const,
    validateStack: (args, reportViolation) => {
      const resources = args.resources.map((r) => ({ type: r.type, name: r.name, props: r.props as Record<string, unknown> }));
      for (const violation of policy.check(resources, { runbookExists: (file) => existsSync(join(runbooksDir, file)) })) reportViolation(violation);
    },
  })),
});
