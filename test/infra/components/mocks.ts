import type * as pulumiType from '@pulumi/pulumi';
import { dropExitListenersSince, snapshotExitListeners } from '../../support/process-listeners';

/**
 * Builds one component under Pulumi runtime mocks in a fresh module registry (like harness.ts does
 * for the whole program) and records every resource it registers: type, logical name, inputs and the
 * mocked provider outputs. Provider-computed outputs (ARNs, RDS address, the RDS-managed secret) are
 * returned in AWS's own formats so the component's parsing is exercised as it will be in AWS.
 */
export const ACCOUNT = '123456789012';
export const REGION = 'eu-central-1';

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
}

export interface ComponentRun<T> {
  component: T;
  resources: Recorded[];
  /** The resources of one type token, e.g. `aws:rds/instance:Instance`. */
  ofType(type: string): Recorded[];
  /** The one resource of a type; fails the test if there are none or several. */
  one(type: string): Recorded;
  resolve<V>(output: pulumiType.Output<V>): Promise<V>;
  isSecret(output: pulumiType.Output<unknown>): Promise<boolean>;
}

function arnFor(type: string, name: string, inputs: Record<string, unknown>): string {
  const physical = (inputs.name as string | undefined) ?? `${name}-abc1234`;
  switch (type) {
    case 'aws:rds/instance:Instance': return `arn:aws:rds:${REGION}:${ACCOUNT}:db:${String(inputs.identifier)}`;
    case 'aws:ecr/repository:Repository': return `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${physical}`;
    case 'aws:iam/role:Role': return `arn:aws:iam::${ACCOUNT}:role/${physical}`;
    case 'aws:iam/openIdConnectProvider:OpenIdConnectProvider': return `arn:aws:iam::${ACCOUNT}:oidc-provider/${String(inputs.url).replace('https://', '')}`;
    case 'aws:cloudwatch/eventRule:EventRule': return `arn:aws:events:${REGION}:${ACCOUNT}:rule/${physical}`;
    default: return `arn:aws:${type.split(':')[1]?.split('/')[0]}:${REGION}:${ACCOUNT}:${physical}`;
  }
}

function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = { ...inputs, name: inputs.name ?? `${name}-abc1234`, arn: arnFor(type, name, inputs) };
  if (type === 'aws:rds/instance:Instance') {
    const id = String(inputs.identifier);
    Object.assign(state, {
      address: `${id}.cabc123xyz.${REGION}.rds.amazonaws.com`,
      port: inputs.port,
      endpoint: `${id}.cabc123xyz.${REGION}.rds.amazonaws.com:${String(inputs.port)}`,
      masterUserSecrets: inputs.manageMasterUserPassword
        ? [{ secretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-0a1b2c3d-AbCdEf`, kmsKeyId: 'aws/secretsmanager', secretStatus: 'active' }]
        : [],
    });
  }
  if (type === 'aws:ecr/repository:Repository') state.repositoryUrl = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${String(inputs.name)}`;
  return state;
}

export async function buildComponent<T>(build: () => T): Promise<ComponentRun<T>> {
  const resources: Recorded[] = [];
  let pulumi!: typeof pulumiType;
  let component!: T;
  // Each isolated @pulumi/pulumi adds process exit listeners that pin its module graph (see
  // test/support/release-exit-listeners.ts): dropped once this build has settled.
  const listening = snapshotExitListeners();
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pulumi = require('@pulumi/pulumi');
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          const state = mockState(args.type, args.name, args.inputs);
          resources.push({ type: args.type, name: args.name, inputs: args.inputs, state });
          return { id: `${String(state.name)}-id`, state };
        },
        call: (args) => args.inputs,
      },
      'upiik-payments',
      'test',
      false,
    );
    component = build();
  });
  // Let registrations made inside apply settle (role policies are built from resolved ARNs).
  let count = -1;
  while (count !== resources.length) {
    count = resources.length;
    await new Promise((r) => setTimeout(r, 20));
  }
  dropExitListenersSince(listening);
  const ofType = (type: string) => resources.filter((r) => r.type === type);
  return {
    component,
    resources,
    ofType,
    one(type) {
      const found = ofType(type);
      if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}: ${found.map((r) => r.name).join(', ')}`);
      return found[0] as Recorded;
    },
    resolve: (output) => new Promise((resolve) => output.apply(resolve)),
    isSecret: (output) => pulumi.isSecret(output),
  };
}

/**
 * Loads a component module inside the isolated registry `buildComponent` sets up: call it from the
 * `build` callback so the component sees the mocked runtime.
 */
export function load<M>(path: string): M {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path) as M;
}
