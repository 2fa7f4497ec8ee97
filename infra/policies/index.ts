import { noWorldOpenIngress } from './network';
import { executionRoleReadsOnlyOurSecrets, secretsOnlyByValueFrom } from './secrets';
import { alarmsAreActionable, deploymentsRollBack, logRetentionSet, productionHasRedundantTasks, redisEncryptedAndResilient } from './runtime';
import type { PolicyResource } from './types';

export type { PolicyResource } from './types';
export { outputsHoldNoSecrets } from './secrets';

export interface StackPolicy {
  name: string;
  description: string;
  check(resources: PolicyResource[], context: { runbookExists: (file: string) => boolean }): string[];
}

/** The production invariants, shared by the jest policy tests and the @pulumi/policy pack. */
export const STACK_POLICIES: StackPolicy[] = [
  { name: 'no-world-open-ingress', description: 'Only the ALB is open to the world, and only on 80/443', check: noWorldOpenIngress },
  { name: 'secrets-only-by-value-from', description: 'No secret in task environment; every secret via valueFrom', check: secretsOnlyByValueFrom },
  { name: 'execution-role-reads-only-our-secrets', description: 'The execution role reads exactly the task secrets', check: executionRoleReadsOnlyOurSecrets },
  { name: 'redis-encrypted-and-resilient', description: 'Redis TLS + at-rest encryption; multi-AZ failover in production', check: (r) => redisEncryptedAndResilient(r) },
  { name: 'deployments-roll-back', description: 'Circuit breaker and alarm rollback on every ECS service', check: deploymentsRollBack },
  { name: 'production-redundant-tasks', description: 'Production desired count >= 2', check: (r) => productionHasRedundantTasks(r) },
  { name: 'log-retention-set', description: 'Every log group has a retention', check: logRetentionSet },
  { name: 'alarms-are-actionable', description: 'Every alarm notifies SNS and links an existing runbook', check: (r, c) => alarmsAreActionable(r, c.runbookExists) },
];
