import type * as pulumiType from '@pulumi/pulumi';
import type { PolicyResource } from '../../infra/policies';

/**
 * Runs the whole Pulumi program (infra/index.ts) under runtime mocks for one stack, in a fresh
 * module registry, and returns every resource (inputs merged with the mocked provider outputs)
 * plus the resolved stack outputs. No CLI, no cloud, no network.
 */
export const SECRET_CONFIG = {
  staging: {
    stripeSecretKey: 'sk_test_51StagingSecretKeyValue',
    databaseUrl: 'postgres://payments:staging-db-password@db.staging.internal:5432/payments',
    authJwtSecret: 'staging-jwt-secret-0123456789abcdef0123456789',
  },
  production: {
    stripeSecretKey: 'sk_live_placeholder_production_key',
    databaseUrl: 'postgres://payments:production-db-password@db.production.internal:5432/payments',
    authJwtSecret: 'production-jwt-secret-0123456789abcdef012345',
  },
} as const;
export const MOCK_REDIS_TOKEN = 'mockRedisAuthToken0123456789abcdefghijklmnopqrs';
export const MOCK_WEBHOOK_SECRET = 'whsec_mockSigningSecretFromStripe';

export type StackName = 'staging' | 'production';

/** Non-secret values as Pulumi.<stack>.yaml would set them, plus what the pipeline passes. */
export function stackConfig(stack: StackName, overrides: Record<string, string> = {}): Record<string, string> {
  const yaml = readStackYaml(stack);
  const ns = (k: string) => (k.includes(':') ? k : `upiik-payments:${k}`);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(yaml)) config[ns(k)] = typeof v === 'string' ? v : JSON.stringify(v);
  config['upiik-payments:image'] = `123456789012.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments:abc1234`;
  for (const [k, v] of Object.entries(SECRET_CONFIG[stack])) config[`upiik-payments:${k}`] = v;
  for (const [k, v] of Object.entries(overrides)) config[ns(k)] = v;
  return config;
}

/** Minimal reader for the flat `config:` map of a stack file (keys, scalars and inline lists). */
function readStackYaml(stack: StackName): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const text = readFileSync(`${__dirname}/../../Pulumi.${stack}.yaml`, 'utf8');
  const out: Record<string, unknown> = {};
  for (const line of text.split('\n')) {
    const m = /^ {2}([\w:-]+):\s*(.+?)\s*$/.exec(line);
    if (!m || m[2]?.startsWith('#')) continue;
    const raw = (m[2] as string).replace(/\s+#.*$/, '');
    out[m[1] as string] = raw.startsWith('[') ? JSON.parse(raw) : raw.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

export interface ProgramRun {
  resources: PolicyResource[];
  outputs: Record<string, unknown>;
  /** Raw stack exports before resolution (to check secretness). */
  secretOutputs: string[];
}

function mockOutputs(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  const physical = (inputs.name as string | undefined) ?? `${name}-${type.split(':').pop()?.toLowerCase()}`;
  const service = type.split(':')[1]?.split('/')[0] ?? 'x';
  const state: Record<string, unknown> = { ...inputs, name: physical, arn: `arn:aws:${service}:eu-central-1:123456789012:${physical}` };
  if (type === 'random:index/randomPassword:RandomPassword') state.result = MOCK_REDIS_TOKEN;
  if (type === 'aws:lb/loadBalancer:LoadBalancer') Object.assign(state, { dnsName: `${name}.eu-central-1.elb.amazonaws.com`, arnSuffix: `app/${name}/abc` });
  if (type === 'aws:lb/targetGroup:TargetGroup') state.arnSuffix = `targetgroup/${name}/def`;
  if (type === 'aws:elasticache/replicationGroup:ReplicationGroup') state.primaryEndpointAddress = `master.${name}.cache.amazonaws.com`;
  if (type.startsWith('pulumi-nodejs:dynamic')) {
    // Stripe ids are a prefix and letters/digits only (the service's config schema checks price ids).
    const tail = `mock${name.replace(/[^A-Za-z0-9]/g, '')}`;
    const id = type.endsWith(':Price') ? `price_${tail}` : type.endsWith(':Product') ? `prod_${tail}` : `we_${tail}`;
    Object.assign(state, { productId: id, priceId: id, endpointId: id, secret: MOCK_WEBHOOK_SECRET });
    return { id, state };
  }
  return { id: `${physical}-id`, state };
}

export async function runProgram(stack: StackName, overrides: Record<string, string> = {}): Promise<ProgramRun> {
  const resources: PolicyResource[] = [];
  let program: Record<string, unknown> = {};
  let pulumi!: typeof pulumiType;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pulumi = require('@pulumi/pulumi');
    pulumi.runtime.setAllConfig(stackConfig(stack, overrides), Object.keys(SECRET_CONFIG[stack]).map((k) => `upiik-payments:${k}`));
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          const { id, state } = mockOutputs(args.type, args.name, args.inputs);
          resources.push({ type: args.type, name: args.name, props: state });
          return { id, state };
        },
        call: (args) => {
          if (args.token === 'aws:index/getAvailabilityZones:getAvailabilityZones') return { names: ['eu-central-1a', 'eu-central-1b', 'eu-central-1c'] };
          if (args.token === 'aws:index/getRegion:getRegion') return { name: 'eu-central-1', region: 'eu-central-1' };
          return args.inputs;
        },
      },
      'upiik-payments',
      stack,
      false,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    program = require('../../infra/index');
  });
  const outputs: Record<string, unknown> = {};
  const secretOutputs: string[] = [];
  for (const [key, value] of Object.entries(program)) {
    const out = pulumi.output(value as pulumiType.Input<unknown>) as pulumiType.Output<unknown>;
    if (await pulumi.isSecret(out)) secretOutputs.push(key);
    outputs[key] = await new Promise((resolve) => out.apply(resolve));
  }
  // Let late registrations (children created inside apply) settle.
  let count = -1;
  while (count !== resources.length) {
    count = resources.length;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { resources, outputs, secretOutputs };
}
