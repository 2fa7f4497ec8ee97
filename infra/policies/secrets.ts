import { PolicyResource, TYPES, ofType } from './types';

/** Variables that must reach the container only through `secrets[].valueFrom`. */
export const REQUIRED_SECRET_ENV = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'DATABASE_URL', 'REDIS_URL', 'AUTH_JWT_SECRET'];
const NON_SECRET_NAMES = new Set(['STRIPE_PUBLISHABLE_KEY']);
const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$)/;
/** Values that are secrets whatever the variable is called. */
export const SECRET_VALUE = /(sk_(live|test)_|rk_(live|test)_|whsec_|:\/\/[^/\s:@]*:[^/\s@]+@)/;

interface Container {
  name?: string;
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
}

function containers(td: PolicyResource): Container[] | undefined {
  const raw = td.props.containerDefinitions;
  if (typeof raw !== 'string') return undefined; // unknown during preview: nothing to judge yet
  return JSON.parse(raw) as Container[];
}

/** No secret in any container's plain environment; every required secret by an ARN `valueFrom`. */
export function secretsOnlyByValueFrom(resources: PolicyResource[]): string[] {
  const violations: string[] = [];
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    for (const c of containers(td) ?? []) {
      for (const { name, value } of c.environment ?? []) {
        if ((SECRET_NAME.test(name) && !NON_SECRET_NAMES.has(name)) || SECRET_VALUE.test(String(value)))
          violations.push(`${td.name}/${c.name}: ${name} is a secret in plain environment`);
      }
      const bySecret = new Map((c.secrets ?? []).map((s) => [s.name, s.valueFrom]));
      for (const name of REQUIRED_SECRET_ENV) {
        const from = bySecret.get(name);
        if (!from) violations.push(`${td.name}/${c.name}: ${name} is not provided through secrets[].valueFrom`);
        else if (!from.startsWith('arn:')) violations.push(`${td.name}/${c.name}: ${name} valueFrom is not a secret ARN`);
      }
    }
  }
  return violations;
}

interface Statement {
  Effect?: string;
  Action?: string | string[];
  Resource?: string | string[];
}
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const readsSecrets = (action: string) => /^(\*|secretsmanager:\*|secretsmanager:GetSecretValue)$/i.test(action);

/**
 * The task execution role reads exactly the secrets the task definition references (no wildcard,
 * nothing else), and no other inline role policy reads secrets at all.
 */
export function executionRoleReadsOnlyOurSecrets(resources: PolicyResource[]): string[] {
  const violations: string[] = [];
  const roles = ofType(resources, TYPES.role);
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    const referenced = new Set((containers(td) ?? []).flatMap((c) => (c.secrets ?? []).map((s) => s.valueFrom)));
    const role = roles.find((r) => r.props.arn !== undefined && r.props.arn === td.props.executionRoleArn);
    if (!role) {
      if (td.props.executionRoleArn !== undefined) violations.push(`${td.name}: execution role not found in the stack`);
      continue;
    }
    const granted = new Set<string>();
    for (const rp of ofType(resources, TYPES.rolePolicy).filter((p) => p.props.role === role.props.name)) {
      if (typeof rp.props.policy !== 'string') continue;
      for (const st of list((JSON.parse(rp.props.policy) as { Statement?: Statement | Statement[] }).Statement)) {
        if (st.Effect !== 'Allow' || !list(st.Action).some(readsSecrets)) continue;
        for (const res of list(st.Resource)) {
          if (res.includes('*')) violations.push(`${rp.name}: reads secrets with a wildcard resource ${res}`);
          granted.add(res);
        }
      }
    }
    for (const arn of granted) if (!referenced.has(arn)) violations.push(`${role.name}: may read ${arn}, which the task does not use`);
    for (const arn of referenced) if (!granted.has(arn)) violations.push(`${role.name}: cannot read ${arn}, which the task needs`);
  }
  const executionRoleNames = new Set(
    ofType(resources, TYPES.taskDefinition).map((td) => roles.find((r) => r.props.arn === td.props.executionRoleArn)?.props.name),
  );
  for (const rp of ofType(resources, TYPES.rolePolicy)) {
    if (executionRoleNames.has(rp.props.role) || typeof rp.props.policy !== 'string') continue;
    const st = list((JSON.parse(rp.props.policy) as { Statement?: Statement | Statement[] }).Statement);
    if (st.some((s) => s.Effect === 'Allow' && list(s.Action).some(readsSecrets))) violations.push(`${rp.name}: a non-execution role reads secrets`);
  }
  return violations;
}

/** Stack outputs carry no secret: neither Pulumi secrets nor anything that looks like one. */
export function outputsHoldNoSecrets(outputs: Record<string, unknown>, knownSecretValues: string[] = []): string[] {
  const violations: string[] = [];
  const walk = (path: string, value: unknown): void => {
    if (typeof value === 'string') {
      if (SECRET_VALUE.test(value)) violations.push(`output ${path} looks like a secret`);
      for (const secret of knownSecretValues) if (secret && value.includes(secret)) violations.push(`output ${path} contains a secret value`);
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(`${path}[${i}]`, v));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(`${path}.${k}`, v);
  };
  for (const [k, v] of Object.entries(outputs)) walk(k, v);
  return violations;
}
