import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as pulumiType from '@pulumi/pulumi';
import type { PolicyResource } from '../../infra/policies';
import { dropExitListenersSince, snapshotExitListeners } from '../support/process-listeners';

/**
 * Runs the whole Pulumi program (infra/index.ts) under runtime mocks for one stack, in a fresh
 * module registry, and returns every resource (inputs merged with the mocked provider outputs,
 * plus the options the engine would see: dependencies, parent, timeouts, ignoreChanges...) and
 * the resolved stack outputs. No CLI, no cloud, no network.
 *
 * The mocks behave like the AWS provider where a test depends on it: a resource whose type has an
 * optional physical name and gets none is auto-named `<logical name>-<7 hex>` (the bridge's
 * default), and with `preview: true` nothing the provider computes is known (ids, ARNs, DNS
 * names, generated passwords, Stripe ids), exactly as on a first `pulumi preview`.
 */
export const SECRET_CONFIG = {
  staging: {
    stripeSecretKey: 'sk_test_51StagingSecretKeyValue',
    databaseUrl: 'postgres://payments:staging-db-password@db.staging.internal:5432/payments',
    authJwtSecret: 'staging-jwt-secret-0123456789abcdef0123456789',
  },
  production: {
    stripeSecretKey: 'sk_live_51ProductionSecretKeyValue',
    databaseUrl: 'postgres://payments:production-db-password@db.production.internal:5432/payments',
    authJwtSecret: 'production-jwt-secret-0123456789abcdef012345',
  },
} as const;
/** The CIDR the mocked `aws.ec2.getVpc` reports for an existing VPC. */
export const MOCK_EXISTING_VPC_CIDR = '10.60.0.0/16';
export const MOCK_REDIS_TOKEN = 'mockRedisAuthToken0123456789abcdefghijklmnopqrs';
export const MOCK_WEBHOOK_SECRET = 'whsec_mockSigningSecretFromStripe';
/** The account the operator-set values name (not AWS's documentation account, which settings refuse). */
export const MOCK_ACCOUNT = '402918374650';
export const MOCK_IMAGE = `${MOCK_ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/upiik-payments@sha256:${'ab12'.repeat(16)}`;
/** What the operator sets once per stack with `pulumi config set` (docs/infra.md, "First up"). */
export const OPERATOR_CONFIG: Record<StackName, Record<string, string>> = {
  staging: {
    certificateArn: `arn:aws:acm:eu-central-1:${MOCK_ACCOUNT}:certificate/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f`,
    stripePublishableKey: 'pk_test_51StagingPublishableKey0123',
  },
  production: {
    certificateArn: `arn:aws:acm:eu-central-1:${MOCK_ACCOUNT}:certificate/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d`,
    stripePublishableKey: 'pk_live_51ProductionPublishableKey012',
  },
};
/** Stands for a value the engine does not know yet (preview), in `outputs` and `unknownInputs`. */
export const UNKNOWN = '<unknown until apply>';

/** Use as an override value to run without that key (`{ image: UNSET }`). */
export const UNSET = '\u0000unset';

export type StackName = 'staging' | 'production';

/** Non-secret values as Pulumi.<stack>.yaml would set them, plus what the pipeline passes. */
export function stackConfig(stack: StackName, overrides: Record<string, string> = {}): Record<string, string> {
  const yaml = readStackYaml(stack);
  const ns = (k: string) => (k.includes(':') ? k : `upiik-payments:${k}`);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(yaml)) config[ns(k)] = typeof v === 'string' ? v : JSON.stringify(v);
  config['upiik-payments:image'] = MOCK_IMAGE;
  for (const [k, v] of Object.entries(OPERATOR_CONFIG[stack])) config[ns(k)] = v;
  for (const [k, v] of Object.entries(SECRET_CONFIG[stack])) config[`upiik-payments:${k}`] = v;
  for (const [k, v] of Object.entries(overrides)) config[ns(k)] = v;
  // The operator sets databaseUrl only for an external database (an rds stack has none).
  if (config['upiik-payments:databaseMode'] !== 'external' && overrides.databaseUrl === undefined) delete config['upiik-payments:databaseUrl'];
  // An override of undefined-as-empty removes a key (e.g. no image on a first preview).
  for (const [k, v] of Object.entries(config)) if (v === UNSET) delete config[k];
  return config;
}

/** Minimal reader for the flat `config:` map of a stack file (keys, scalars and inline lists). */
function readStackYaml(stack: StackName): Record<string, unknown> {
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

/** One registered resource as the engine would receive it. */
export interface RecordedResource extends PolicyResource {
  urn: string;
  custom: boolean;
  /** URN of the parent resource (components and the stack). */
  parent?: string;
  /** URNs the engine waits for before creating this one: explicit `dependsOn` plus every input's. */
  dependencies: string[];
  /** Per input property, the URNs its value came from. */
  propertyDependencies: Record<string, string[]>;
  customTimeouts?: { create?: string; update?: string; delete?: string };
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  /** Input paths (`a.b[0].c`) the engine did not know at registration (preview). */
  unknownInputs: string[];
  /** The property the mocked provider filled with `<logical name>-<7 hex>`, if any. */
  autoNamed?: string;
}

export interface ProgramRun {
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** Raw stack exports before resolution (to check secretness). */
  secretOutputs: string[];
  /** `pulumi.log.warn` messages the program wrote. */
  warnings: string[];
  preview: boolean;
}

export interface RunOptions {
  /** Run as `pulumi preview` of a new stack: provider-computed values are unknown. */
  preview?: boolean;
}

const UNKNOWN_SENTINEL = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

/** Physical-name properties the provider auto-names besides an optional `name`. */
const EXTRA_AUTO_NAMES: Record<string, { property: string; lower: boolean }> = {
  'aws:elasticache/replicationGroup:ReplicationGroup': { property: 'replicationGroupId', lower: true },
  'aws:rds/instance:Instance': { property: 'identifier', lower: true },
  'aws:rds/cluster:Cluster': { property: 'clusterIdentifier', lower: true },
  'aws:s3/bucket:Bucket': { property: 'bucket', lower: true },
  'aws:s3/bucketV2:BucketV2': { property: 'bucket', lower: true },
};
const NAME_LOWERCASE = new Set(['aws:elasticache/subnetGroup:SubnetGroup', 'aws:rds/subnetGroup:SubnetGroup', 'aws:rds/parameterGroup:ParameterGroup']);
const optionalNameCache = new Map<string, boolean>();

/**
 * Whether the installed @pulumi/aws declares an optional `name` input for this type: the bridge
 * auto-names exactly those (read from the package's own typings, so a new resource type needs no
 * table entry here).
 */
function hasOptionalName(type: string): boolean {
  const cached = optionalNameCache.get(type);
  if (cached !== undefined) return cached;
  const m = /^aws:([\w-]+)\/(\w+):(\w+)$/.exec(type);
  let result = false;
  if (m) {
    const file = path.join(path.dirname(require.resolve('@pulumi/aws/package.json')), m[1] as string, `${m[2]}.d.ts`);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      const start = text.indexOf(`export interface ${m[3]}Args {`);
      const body = start < 0 ? '' : text.slice(start, text.indexOf('\n}', start));
      result = /\n\s+name\?: pulumi\.Input<string/.test(body);
    }
  }
  optionalNameCache.set(type, result);
  return result;
}

function autoName(type: string, name: string, inputs: Record<string, unknown>): { property: string; value: string } | undefined {
  const extra = EXTRA_AUTO_NAMES[type];
  const property = extra?.property ?? (hasOptionalName(type) ? 'name' : undefined);
  if (!property || inputs[property] !== undefined || inputs.namePrefix !== undefined) return undefined;
  const hex = createHash('sha256').update(`${type}::${name}`).digest('hex').slice(0, 7);
  const value = `${name}-${hex}`;
  return { property, value: extra?.lower || NAME_LOWERCASE.has(type) ? value.toLowerCase() : value };
}

function mockOutputs(type: string, name: string, inputs: Record<string, unknown>, preview: boolean): { id: string | undefined; state: Record<string, unknown> } {
  const auto = autoName(type, name, inputs);
  const state: Record<string, unknown> = { ...inputs, ...(auto ? { [auto.property]: auto.value } : {}) };
  // A first preview knows inputs and auto-names (the provider's Check computes them), nothing else.
  if (preview) return { id: undefined, state };
  const physical = String((auto?.value ?? inputs.name ?? inputs.replicationGroupId ?? inputs.identifier ?? inputs.family ?? name) as string);
  const service = type.split(':')[1]?.split('/')[0] ?? 'x';
  // Some types take `arn` as an input (an EventBridge target's ARN is its destination): keep it.
  if (inputs.arn === undefined) state.arn = `arn:aws:${service}:eu-central-1:123456789012:${physical}`;
  if (type === 'random:index/randomPassword:RandomPassword') state.result = MOCK_REDIS_TOKEN;
  if (type === 'aws:lb/loadBalancer:LoadBalancer') Object.assign(state, { dnsName: `${name}.eu-central-1.elb.amazonaws.com`, arnSuffix: `app/${physical}/abc`, zoneId: 'Z215JYRZR1TBD5' });
  if (type === 'aws:lb/targetGroup:TargetGroup') state.arnSuffix = `targetgroup/${physical}/def`;
  if (type === 'aws:lb/listener:Listener' || type === 'aws:lb/listenerRule:ListenerRule') state.arn = `arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/${name}/abc`;
  if (type === 'aws:elasticache/replicationGroup:ReplicationGroup') state.primaryEndpointAddress = `master.${physical}.cache.amazonaws.com`;
  if (type === 'aws:secretsmanager/secretVersion:SecretVersion') state.versionId = `version-${createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 12)}`;
  if (type === 'aws:kms/key:Key') Object.assign(state, { keyId: `key-${name}`, arn: `arn:aws:kms:eu-central-1:123456789012:key/${name}` });
  if (type === 'aws:sns/topic:Topic') state.arn = `arn:aws:sns:eu-central-1:123456789012:${physical}`;
  if (type === 'aws:route53/record:Record') state.fqdn = inputs.name;
  if (type === 'aws:ecs/taskDefinition:TaskDefinition') Object.assign(state, { revision: 1, arn: `arn:aws:ecs:eu-central-1:123456789012:task-definition/${physical}:1` });
  // AWS's own ARN shapes where a consumer parses them (DeployIdentity's policy, DeploymentEvents' pattern, the policies).
  if (type === 'aws:ecs/cluster:Cluster') state.arn = `arn:aws:ecs:eu-central-1:123456789012:cluster/${physical}`;
  // Long format (the default since 2021): service/<cluster>/<service>.
  if (type === 'aws:ecs/service:Service') state.arn = `arn:aws:ecs:eu-central-1:123456789012:service/${String(inputs.cluster).split('/').pop()}/${physical}`;
  if (type === 'aws:iam/role:Role') state.arn = `arn:aws:iam::123456789012:role/${physical}`;
  if (type === 'aws:iam/openIdConnectProvider:OpenIdConnectProvider') state.arn = `arn:aws:iam::123456789012:oidc-provider/${String(inputs.url).replace(/^https:\/\//, '')}`;
  if (type === 'aws:cloudwatch/logGroup:LogGroup') state.arn = `arn:aws:logs:eu-central-1:123456789012:log-group:${physical}`;
  // Secrets Manager appends a dash and 6 random characters to the name.
  if (type === 'aws:secretsmanager/secret:Secret') state.arn = `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${physical}-${hex6(physical)}`;
  if (type === 'aws:ecr/repository:Repository') Object.assign(state, { arn: `arn:aws:ecr:eu-central-1:123456789012:repository/${physical}`, repositoryUrl: `123456789012.dkr.ecr.eu-central-1.amazonaws.com/${physical}` });
  if (type === 'aws:rds/instance:Instance') {
    const address = `${physical}.c9akciq32xyz.eu-central-1.rds.amazonaws.com`;
    Object.assign(state, {
      arn: `arn:aws:rds:eu-central-1:123456789012:db:${physical}`, address, endpoint: `${address}:${String(inputs.port ?? 5432)}`, port: inputs.port ?? 5432,
      // The secret RDS creates for manageMasterUserPassword: named rds!db-<uuid>, under the given key.
      masterUserSecrets: inputs.manageMasterUserPassword
        ? [{ secretArn: `arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-${MOCK_DB_RESOURCE_UUID}-${hex6(physical)}`, kmsKeyId: inputs.masterUserSecretKmsKeyId, secretStatus: 'active' }]
        : [],
    });
  }
  if (type.startsWith('pulumi-nodejs:dynamic')) {
    // Stripe ids are a prefix and letters/digits only (the service's config schema checks price ids).
    const tail = `mock${name.replace(/[^A-Za-z0-9]/g, '')}`;
    const id = type.endsWith(':Price') ? `price_${tail}` : type.endsWith(':Product') ? `prod_${tail}` : `we_${tail}`;
    Object.assign(state, { productId: id, priceId: id, endpointId: id, secret: MOCK_WEBHOOK_SECRET });
    return { id, state };
  }
  return { id: `${physical}-id`, state };
}

const MOCK_DB_RESOURCE_UUID = '3f2b9c1e-7a4d-4e8b-9c6f-1d2e3f4a5b6c';
const hex6 = (seed: string) => createHash('sha256').update(seed).digest('hex').slice(0, 6);

/** Paths of every unknown value inside a serialized input object. */
function unknownPaths(value: unknown, at = ''): string[] {
  if (value === UNKNOWN_SENTINEL) return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, `${at}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, at ? `${at}.${k}` : k));
  return [];
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(fn: (v: { getUrnsList(): string[] }, k: string) => void): void };
  getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getReplaceonchangesList(): string[];
}
type Callback = (err: unknown, resp?: { getUrn(): string }) => void;

export async function runProgram(stack: StackName, overrides: Record<string, string> = {}, options: RunOptions = {}): Promise<ProgramRun> {
  const preview = options.preview ?? false;
  const resources: RecordedResource[] = [];
  const requests = new Map<string, RegisterRequest>();
  const warnings: string[] = [];
  let program: Record<string, unknown> = {};
  let pulumi!: typeof pulumiType;
  const warn = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    warnings.push(args.map(String).join(' ').replace(/^warning: \[runtime\] /, ''));
  });
  // Each isolated @pulumi/pulumi adds a process 'exit' listener (its promise-leak detector) whose
  // closure keeps that whole module graph, @pulumi/aws included, alive: a jest worker running the
  // infra suites grew past 11 GB and was killed by the OOM killer. Removed once the run is over.
  const exitListeners = snapshotExitListeners();
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      pulumi = require('@pulumi/pulumi');
      // The mock monitor sees the whole RegisterResourceRequest; record what the mocks API drops.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { MockMonitor } = require('@pulumi/pulumi/runtime/mocks') as { MockMonitor: { prototype: { registerResource(req: RegisterRequest, cb: Callback): Promise<void> } } };
      const original = MockMonitor.prototype.registerResource;
      MockMonitor.prototype.registerResource = function (this: unknown, req: RegisterRequest, callback: Callback) {
        requests.set(`${req.getType()}::${req.getName()}`, req);
        return original.call(this, req, (err, resp) => {
          const recorded = resources.find((r) => r.type === req.getType() && r.name === req.getName() && r.urn === '');
          if (recorded && resp) recorded.urn = resp.getUrn();
          callback(err, resp);
        });
      };
      pulumi.runtime.setAllConfig(stackConfig(stack, overrides), Object.keys(SECRET_CONFIG[stack]).map((k) => `upiik-payments:${k}`));
      void pulumi.runtime.setMocks(
        {
          newResource: (args) => {
            const { id, state } = mockOutputs(args.type, args.name, args.inputs as Record<string, unknown>, preview);
            const req = requests.get(`${args.type}::${args.name}`);
            const propertyDependencies: Record<string, string[]> = {};
            req?.getPropertydependenciesMap().forEach((v, k) => {
              propertyDependencies[k] = v.getUrnsList();
            });
            const timeouts = req?.getCustomtimeouts();
            const auto = autoName(args.type, args.name, args.inputs as Record<string, unknown>);
            resources.push({
              type: args.type,
              name: args.name,
              props: state,
              urn: '',
              custom: Boolean(args.custom),
              parent: req?.getParent() || undefined,
              dependencies: req?.getDependenciesList() ?? [],
              propertyDependencies,
              customTimeouts: timeouts
                ? { create: timeouts.getCreate() || undefined, update: timeouts.getUpdate() || undefined, delete: timeouts.getDelete() || undefined }
                : undefined,
              ignoreChanges: req?.getIgnorechangesList() ?? [],
              deleteBeforeReplace: req?.getDeletebeforereplace() ?? false,
              replaceOnChanges: req?.getReplaceonchangesList() ?? [],
              unknownInputs: unknownPaths(req?.getObject()?.toJavaScript() ?? {}),
              autoNamed: auto?.property,
            });
            return { id, state };
          },
          call: (args) => {
            if (args.token === 'aws:index/getAvailabilityZones:getAvailabilityZones') return { names: ['eu-central-1a', 'eu-central-1b', 'eu-central-1c'] };
            if (args.token === 'aws:index/getRegion:getRegion') return { name: 'eu-central-1', region: 'eu-central-1' };
            if (args.token === 'aws:index/getCallerIdentity:getCallerIdentity') return { accountId: '123456789012', arn: 'arn:aws:iam::123456789012:user/ci', userId: 'AIDA', id: '123456789012' };
            if (args.token === 'aws:index/getPartition:getPartition') return { partition: 'aws', dnsSuffix: 'amazonaws.com', id: 'aws' };
            if (args.token === 'aws:lb/getLoadBalancer:getLoadBalancer') return { ...args.inputs, zoneId: 'Z215JYRZR1TBD5' };
            // An existing VPC (vpcId set): its CIDR scopes the ALB's egress.
            if (args.token === 'aws:ec2/getVpc:getVpc') return { ...args.inputs, cidrBlock: MOCK_EXISTING_VPC_CIDR };
            return args.inputs;
          },
        },
        'upiik-payments',
        stack,
        preview,
      );
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      program = require('../../infra/index');
    });
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    for (const [key, value] of Object.entries(program)) {
      const out = pulumi.output(value as pulumiType.Input<unknown>) as pulumiType.Output<unknown> & { isKnown: Promise<boolean>; promise(): Promise<unknown> };
      if (await pulumi.isSecret(out)) secretOutputs.push(key);
      outputs[key] = (await out.isKnown) ? await out.promise() : UNKNOWN;
    }
    // Let late registrations (children created inside apply) settle.
    let count = -1;
    for (let round = 0; round < 500 && (count !== resources.length || resources.some((r) => r.urn === '')); round += 1) {
      count = resources.length;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { resources, outputs, secretOutputs, warnings, preview };
  } finally {
    warn.mockRestore();
    dropExitListenersSince(exitListeners);
  }
}

/** The resource with this URN. */
export function byUrn(run: ProgramRun, urn: string): RecordedResource | undefined {
  return run.resources.find((r) => r.urn === urn);
}

/** Every resource the engine must finish before `resource` starts (its transitive dependencies). */
export function upstreamOf(run: ProgramRun, resource: RecordedResource): RecordedResource[] {
  const seen = new Set<string>();
  const queue = [...resource.dependencies];
  while (queue.length > 0) {
    const urn = queue.shift() as string;
    if (seen.has(urn)) continue;
    seen.add(urn);
    queue.push(...(byUrn(run, urn)?.dependencies ?? []));
  }
  return run.resources.filter((r) => seen.has(r.urn));
}
