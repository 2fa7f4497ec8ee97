/**
 * Every CloudWatch alarm the stack creates, by slug. The slug is the alarm's name suffix and its
 * runbook page (`runbooks/<slug>.md`), so the alarms component, the service's deployment-rollback
 * alarms, the tests and the runbook index cannot drift apart.
 */
export const ALARMS = {
  alb5xxRate: { slug: 'alb-5xx-rate', summary: 'More than 5% of ALB responses are 5xx' },
  targetP99Latency: { slug: 'target-p99-latency', summary: 'p99 target response time above 2 s' },
  unhealthyHosts: { slug: 'unhealthy-hosts', summary: 'At least one target failing /health/ready' },
  runningTasksBelowDesired: { slug: 'running-tasks-below-desired', summary: 'Fewer running tasks than desired' },
  paymentFailureRate: { slug: 'payment-failure-rate', summary: 'More than 20% of payments failing' },
  webhookFailureRate: { slug: 'webhook-failure-rate', summary: 'More than 5% of webhooks failing' },
  // Production only: a quiet staging (no merge for a day) has no webhooks by design, so this alarm
  // would sit in ALARM there; staging's webhook path is proven by the smoke transactions instead.
  noWebhookActivity: { slug: 'no-webhook-activity', summary: 'No webhook processed for 24 h', environments: ['production'] },
  redisCpu: { slug: 'redis-cpu', summary: 'Redis engine CPU above 75% on any node' },
  redisMemory: { slug: 'redis-memory', summary: 'Redis memory usage above 80% on any node' },
  redisEvictions: { slug: 'redis-evictions', summary: 'Redis is evicting keys' },
} as const satisfies Record<string, { slug: string; summary: string; environments?: readonly string[] }>;

export type AlarmKey = keyof typeof ALARMS;

/** The alarms a stack creates: every catalog entry, except those limited to other environments. */
export function alarmsFor(environment: string): AlarmKey[] {
  return (Object.keys(ALARMS) as AlarmKey[]).filter((key) => {
    const only: readonly string[] | undefined = (ALARMS[key] as { environments?: readonly string[] }).environments;
    return !only || only.includes(environment);
  });
}

/** The physical alarm name, known before the alarm exists (the ECS service references it). */
export function alarmName(prefix: string, key: AlarmKey): string {
  return `${prefix}-${ALARMS[key].slug}`;
}

/**
 * Alarms that fail an ECS deployment and roll it back: what a bad image shows within minutes. A
 * canary has no circuit breaker (rolling only), so a new task that never passes /health/ready is
 * rolled back by unhealthy-hosts; otherwise it would hold the deployment until the `up` times out.
 */
export const DEPLOYMENT_ROLLBACK_ALARMS: readonly AlarmKey[] = ['alb5xxRate', 'targetP99Latency', 'unhealthyHosts', 'paymentFailureRate'];
