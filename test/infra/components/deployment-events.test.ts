import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildComponent, load, ComponentRun, ACCOUNT, REGION } from './mocks';
import type * as EventsModule from '../../../infra/components/deployment-events';

type M = typeof EventsModule;
const T = { rule: 'aws:cloudwatch/eventRule:EventRule', target: 'aws:cloudwatch/eventTarget:EventTarget' };
const SERVICE_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:service/upiik-payments-production-cluster/upiik-payments-production-service`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:upiik-payments-production-alerts`;
const RUNBOOK = 'https://github.com/upiik/payments/blob/main/runbooks/ecs-deployment-failed.md';

const baseArgs: EventsModule.DeploymentEventsArgs = {
  environment: 'production', serviceArn: SERVICE_ARN, alertTopicArn: TOPIC_ARN, runbookUrl: RUNBOOK, tags: { Environment: 'production' },
};
const build = (args: EventsModule.DeploymentEventsArgs) =>
  buildComponent(() => {
    const { DeploymentEvents } = load<M>('../../../infra/components/deployment-events');
    return new DeploymentEvents('upiik-payments-production', args);
  });

/**
 * Just enough of EventBridge's matching (exact values, `wildcard`, `$or`) to check the pattern
 * against events shaped like the ECS documentation's examples.
 */
function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    return pattern.some((p) => {
      if (typeof p === 'object' && p !== null && 'wildcard' in p) {
        const re = new RegExp(`^${String((p as { wildcard: string }).wildcard).split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
        return typeof event === 'string' && re.test(event);
      }
      return Array.isArray(event) ? event.includes(p) : event === p;
    });
  }
  const obj = pattern as Record<string, unknown>;
  const value = (event ?? {}) as Record<string, unknown>;
  return Object.entries(obj).every(([key, sub]) =>
    key === '$or' ? (sub as unknown[]).some((alt) => matches(alt, value)) : matches(sub, value[key]));
}

const ecsEvent = (eventName: string, reason: string, resource = SERVICE_ARN) => ({
  version: '0', source: 'aws.ecs', 'detail-type': 'ECS Deployment State Change', account: ACCOUNT, region: REGION, time: '2026-05-23T12:31:14Z',
  resources: [resource],
  detail: { eventType: eventName === 'SERVICE_DEPLOYMENT_FAILED' ? 'ERROR' : 'INFO', eventName, deploymentId: 'ecs-svc/123', updatedAt: '2026-05-23T12:31:14Z', reason },
});

describe('deployment events of the service', () => {
  let run: ComponentRun<EventsModule.DeploymentEvents>;
  let pattern: unknown;
  beforeAll(async () => {
    run = await build(baseArgs);
    pattern = JSON.parse(String(run.one(T.rule).inputs.eventPattern));
  });

  test('alert on a failed deployment of this service', () => {
    expect(matches(pattern, ecsEvent('SERVICE_DEPLOYMENT_FAILED', 'ECS deployment circuit breaker: tasks failed to start.'))).toBe(true);
  });

  test('alert on a rollback ECS starts by itself', () => {
    expect(matches(pattern, ecsEvent('SERVICE_DEPLOYMENT_IN_PROGRESS', 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/122.'))).toBe(true);
  });

  test('stay quiet on ordinary deployments and on other services', () => {
    expect(matches(pattern, ecsEvent('SERVICE_DEPLOYMENT_IN_PROGRESS', 'ECS deployment ecs-svc/123 in progress.'))).toBe(false);
    expect(matches(pattern, ecsEvent('SERVICE_DEPLOYMENT_COMPLETED', 'ECS deployment ecs-svc/123 completed.'))).toBe(false);
    expect(matches(pattern, ecsEvent('SERVICE_DEPLOYMENT_FAILED', 'failed', SERVICE_ARN.replace('production-service', 'other')))).toBe(false);
    expect(matches(pattern, { ...ecsEvent('SERVICE_DEPLOYMENT_FAILED', 'failed'), 'detail-type': 'ECS Service Action' })).toBe(false);
  });

  test('go to the alert topic as a readable message linking the runbook', () => {
    const target = run.one(T.target).inputs;
    expect(target.arn).toBe(TOPIC_ARN);
    expect(target.rule).toBe(run.one(T.rule).state.name);
    const transformer = target.inputTransformer as { inputPaths: Record<string, string>; inputTemplate: string };
    const text = JSON.parse(transformer.inputTemplate) as string;
    expect(typeof text).toBe('string');
    expect(text).toContain(RUNBOOK);
    expect(text).toContain('[production]');
    expect(text).toContain('upiik-payments-production-cluster/upiik-payments-production-service');
    const placeholders = [...text.matchAll(/<(\w+)>/g)].map((m) => m[1]);
    expect(placeholders.sort()).toEqual(Object.keys(transformer.inputPaths).sort());
    expect(transformer.inputPaths).toMatchObject({ eventName: '$.detail.eventName', reason: '$.detail.reason' });
    for (const path of Object.values(transformer.inputPaths)) expect(path).not.toContain('[');
  });

  test('the runbook the alert links exists', () => {
    expect(existsSync(join(__dirname, '../../../runbooks/ecs-deployment-failed.md'))).toBe(true);
  });
});

describe('deployment events argument checks name the argument', () => {
  test('a runbook that is not an https page', () =>
    expect(build({ ...baseArgs, runbookUrl: 'http://example.com/x.md' })).rejects.toThrow(/DeploymentEvents: runbookUrl/));
  test('a short-format service ARN, which the events would never match', () => {
    const { longServiceArn } = load<M>('../../../infra/components/deployment-events');
    expect(() => longServiceArn(`arn:aws:ecs:${REGION}:${ACCOUNT}:service/upiik-payments-production-service`)).toThrow(/DeploymentEvents: serviceArn must be a long-format/);
    expect(longServiceArn(SERVICE_ARN)).toBe(SERVICE_ARN);
  });
  test('an environment that is not a stack name', () =>
    expect(build({ ...baseArgs, environment: 'Prod env' })).rejects.toThrow(/DeploymentEvents: environment/));
});
