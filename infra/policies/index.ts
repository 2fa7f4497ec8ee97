import { elasticacheAlarmsWatchMembers, emfAlarmsHandleMissingData } from './alarms';
import { deployRolesPinnedToRepository } from './identity';
import { physicalNamesWithinLimits } from './names';
import { noWorldOpenIngress, productionLoadBalancersProtectedAndLogged } from './network';
import { containersHaveHealthChecks, steadyStateWaitFitsBakes } from './rollout';
import { alarmsAreActionable, deploymentsRollBack, logRetentionSet, productionHasRedundantTasks, redisEncryptedAndResilient } from './runtime';
import { executionRoleReadsOnlyOurSecrets, secretsOnlyByValueFrom } from './secrets';
import { customerKeysForTopicsAndSecrets, databasesEncryptedPrivateBackedUp, registriesImmutableAndScanned } from './stores';
import type { Findings, PolicyResource } from './types';

export type { Findings, PolicyResource } from './types';
export { UNKNOWN, isUnknown } from './types';
export { outputsHoldNoSecrets } from './secrets';

export interface StackPolicy {
  name: string;
  description: string;
  /**
   * Violations of what is known, and what waits for the update (unknown during preview). A
   * policy never gives up as a whole on an unknown value: it judges every known property.
   */
  check(resources: PolicyResource[], context: { runbookExists: (file: string) => boolean }): Findings;
}

/** The production invariants, shared by the jest policy tests and the @pulumi/policy pack. */
export const STACK_POLICIES: StackPolicy[] = [
  { name: 'no-world-open-ingress', description: 'Only the ALB is open to the world, and only on 80/443', check: noWorldOpenIngress },
  { name: 'secrets-only-by-value-from', description: 'No secret in task environment; every secret via valueFrom', check: secretsOnlyByValueFrom },
  { name: 'execution-role-reads-only-our-secrets', description: 'The execution role reads exactly the task secrets; the task role only the stack RDS credentials secret, GitHub roles only the JWT secret, no other role any', check: executionRoleReadsOnlyOurSecrets },
  { name: 'redis-encrypted-and-resilient', description: 'Redis TLS + at-rest encryption; multi-AZ failover in production', check: (r) => redisEncryptedAndResilient(r) },
  { name: 'deployments-roll-back', description: 'Alarm rollback on every ECS service (watching alarms of this stack); circuit breaker with rollback on rolling deployments', check: deploymentsRollBack },
  { name: 'production-redundant-tasks', description: 'Production desired count >= 2', check: (r) => productionHasRedundantTasks(r) },
  { name: 'log-retention-set', description: 'Every log group has a retention', check: logRetentionSet },
  { name: 'alarms-are-actionable', description: 'Every alarm notifies SNS and links an existing runbook', check: (r, c) => alarmsAreActionable(r, c.runbookExists) },
  { name: 'physical-names-within-aws-limits', description: 'Every physical name (given or auto-named) within its AWS length and character rules', check: physicalNamesWithinLimits },
  { name: 'elasticache-alarms-watch-members', description: 'ElastiCache alarms use CacheClusterId and cover every member cluster', check: elasticacheAlarmsWatchMembers },
  { name: 'emf-alarms-handle-missing-data', description: 'Alarms on the service EMF metrics choose treatMissingData and FILL their metric math', check: (r) => emfAlarmsHandleMissingData(r) },
  { name: 'steady-state-wait-fits-bakes', description: 'waitForSteadyState with timeouts covering the bakes, and sigintRollback', check: steadyStateWaitFitsBakes },
  { name: 'containers-have-health-checks', description: 'Every container has an ECS health check within ECS ranges', check: containersHaveHealthChecks },
  { name: 'databases-encrypted-private-backed-up', description: 'RDS encrypted, private, backups >= 7 days, managed password; deletion protection and Multi-AZ in production', check: (r) => databasesEncryptedPrivateBackedUp(r) },
  { name: 'registries-immutable-and-scanned', description: 'ECR repositories: immutable tags, scan on push', check: registriesImmutableAndScanned },
  { name: 'deploy-roles-pinned-to-repository', description: 'GitHub OIDC roles pin aud to sts.amazonaws.com and sub to this repository and an environment (a role without one may only push images)', check: deployRolesPinnedToRepository },
  { name: 'customer-keys-for-topics-and-secrets', description: 'SNS topics and secrets encrypted with a customer-managed KMS key', check: customerKeysForTopicsAndSecrets },
  { name: 'production-load-balancers-protected-and-logged', description: 'Production ALBs: deletion protection and access logs', check: (r) => productionLoadBalancersProtectedAndLogged(r) },
];
