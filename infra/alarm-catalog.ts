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
  noWebhookActivity: { slug: 'no-webhook-activity', summary: 'No webhook processed for 24 h' },
  redisCpu: { slug: 'redis-cpu', summary: 'Redis engine CPU above 75%' },
  redisMemory: { slug: 'redis-memory', summary: 'Redis memory usage above 80%' },
  redisEvictions: { slug: 'redis-evictions', summary: 'Redis is evicting keys' },
} as const;

export type AlarmKey = keyof typeof ALARMS;

/** The physical alarm name, known before the alarm exists (the ECS service references it). */
export function alarmName(prefix: string, key: AlarmKey): string {
  return `${prefix}-${ALARMS[key].slug}`;
}

/** Alarms that fail an ECS deployment and roll it back: what a bad image shows within minutes. */
export const DEPLOYMENT_ROLLBACK_ALARMS: readonly AlarmKey[] = ['alb5xxRate', 'targetP99Latency', 'paymentFailureRate'];
