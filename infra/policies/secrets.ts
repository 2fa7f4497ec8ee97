import { trustsGitHubActions } from './identity';
import { PolicyResource, TYPES, Verdict, isUnknown, ofType } from './types';

/** Variables that must reach the container only through `secrets[].valueFrom`. */
export const REQUIRED_SECRET_ENV = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'DATABASE_URL', 'REDIS_URL', 'AUTH_JWT_SECRET'];
// Names the secret-name pattern would catch but that hold public or numeric settings.
const NON_SECRET_NAMES = new Set(['STRIPE_PUBLISHABLE_KEY', 'AUTH_TOKEN_MAX_LIFETIME_SECONDS', 'AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS']);
const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$)/;
/** Values that are secrets whatever the variable is called. */
export const SECRET_VALUE = /(sk_(live|test)_|rk_(live|test)_|whsec_|:\/\/[^/\s:@]*:[^/\s@]+@)/;

interface Container {
  name?: string;
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
}

/**
 * The task definition's containers, or undefined while they are unknown (at preview the JSON is
 * built from secret ARNs, so it is unknown as a whole until the update): recorded as pending.
 */
export function containersOf(td: PolicyResource, verdict: Verdict): Container[] | undefined {
  const raw = td.props.containerDefinitions;
  if (!verdict.known(td, 'containerDefinitions', raw)) return undefined;
  if (typeof raw !== 'string') {
    verdict.fail(`${td.name}: containerDefinitions is not a JSON document`);
    return undefined;
  }
  return JSON.parse(raw) as Container[];
}

const SECRETS_MANAGER_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;

/** The secret ARN a container's plain DATABASE_CREDENTIALS_ARN names (database "parts"), if any. */
export const databaseCredentialsArnOf = (c: Container): string | undefined => c.environment?.find((e) => e.name === 'DATABASE_CREDENTIALS_ARN')?.value;

/**
 * No secret in any container's plain environment; every required secret by an ARN `valueFrom`.
 * With the database given as parts (DATABASE_HOST: the stack's RDS instance) there is no
 * DATABASE_URL: the service reads the credentials from the secret DATABASE_CREDENTIALS_ARN names,
 * which must be a Secrets Manager ARN (never a password in the environment or the URL).
 */
export function secretsOnlyByValueFrom(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    for (const c of containersOf(td, verdict) ?? []) {
      for (const { name, value } of c.environment ?? []) {
        if ((SECRET_NAME.test(name) && !NON_SECRET_NAMES.has(name)) || SECRET_VALUE.test(String(value)))
          verdict.fail(`${td.name}/${c.name}: ${name} is a secret in plain environment`);
      }
      const bySecret = new Map((c.secrets ?? []).map((s) => [s.name, s.valueFrom]));
      const databaseParts = (c.environment ?? []).some((e) => e.name === 'DATABASE_HOST');
      if (databaseParts) {
        const credentials = databaseCredentialsArnOf(c);
        if (!credentials || !SECRETS_MANAGER_ARN.test(credentials))
          verdict.fail(`${td.name}/${c.name}: DATABASE_HOST without a DATABASE_CREDENTIALS_ARN naming a Secrets Manager secret`);
        if (bySecret.has('DATABASE_URL')) verdict.fail(`${td.name}/${c.name}: both DATABASE_URL and DATABASE_HOST (the service refuses both)`);
      }
      for (const name of REQUIRED_SECRET_ENV) {
        if (name === 'DATABASE_URL' && databaseParts) continue;
        const from = bySecret.get(name);
        if (!from) verdict.fail(`${td.name}/${c.name}: ${name} is not provided through secrets[].valueFrom`);
        else if (!from.startsWith('arn:')) verdict.fail(`${td.name}/${c.name}: ${name} valueFrom is not a secret ARN`);
      }
    }
  }
  return verdict;
}

interface Statement {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
}
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const SECRET_READ = 'secretsmanager:GetSecretValue';
/** IAM action patterns are case-insensitive globs: `*`, `secretsmanager:Get*` and `secretsmanager:*Value` all read secrets. */
const matchesAction = (pattern: string, action: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(action);
/** Allow with a matching Action, or with a NotAction that does not exclude reading secrets. */
const readsSecrets = (st: Statement): boolean =>
  st.Effect === 'Allow' &&
  (list(st.Action).some((a) => matchesAction(a, SECRET_READ)) || (st.NotAction !== undefined && !list(st.NotAction).some((a) => matchesAction(a, SECRET_READ))));
const statements = (document: unknown): Statement[] =>
  typeof document === 'string' ? list((JSON.parse(document) as { Statement?: Statement | Statement[] }).Statement) : [];
/** AWS managed policies that grant secretsmanager:GetSecretValue on every secret. */
const MANAGED_SECRET_READERS = /^arn:aws[a-z-]*:iam::aws:policy\/(AdministratorAccess|PowerUserAccess|SecretsManagerReadWrite)$/;

/** One way a role can read secrets: the resources it names, or every secret. */
interface SecretGrant {
  source: string;
  resources: string[] | 'every secret';
}

/**
 * Every way `role` can read secrets: inline role policies, the role's own inline policies, attached
 * managed policies. A document, role reference or policy ARN unknown at preview is recorded as
 * pending: the grant it may hold is judged at the update.
 */
function secretGrants(role: PolicyResource, resources: PolicyResource[], verdict: Verdict): { grants: SecretGrant[]; complete: boolean } {
  let complete = true;
  const known = (holder: PolicyResource, property: string, value: unknown): boolean => {
    if (verdict.known(holder, property, value)) return true;
    complete = false;
    return false;
  };
  const isThisRole = (holder: PolicyResource): boolean => {
    const ref = holder.props.role;
    // Two unknowns are not the same value: an unknown reference matches no role until the update.
    if (!known(holder, 'role', ref)) return false;
    return ref !== undefined && (ref === role.props.name || ref === role.props.arn);
  };
  const fromDocument = (holder: PolicyResource, source: string, document: unknown): SecretGrant[] =>
    known(holder, source === holder.name ? 'policy' : `${source} policy`, document)
      ? statements(document)
          .filter(readsSecrets)
          .map((st) => ({ source, resources: list(st.Resource) }))
      : [];
  const grants: SecretGrant[] = [];
  for (const rp of ofType(resources, TYPES.rolePolicy).filter(isThisRole)) grants.push(...fromDocument(rp, rp.name, rp.props.policy));
  // Each inline policy on its own: one document unknown at preview leaves the others judged.
  const inlinePolicies = role.props.inlinePolicies;
  if (isUnknown(inlinePolicies)) known(role, 'inlinePolicies', inlinePolicies);
  else
    for (const inline of (inlinePolicies as { name?: string; policy?: unknown }[] | undefined) ?? [])
      grants.push(...fromDocument(role, `${role.name}/${inline.name ?? 'inline'}`, inline.policy));
  const attachments = ofType(resources, TYPES.rolePolicyAttachment).filter(isThisRole);
  const managedArns = [
    ...attachments.filter((a) => known(a, 'policyArn', a.props.policyArn)).map((a) => a.props.policyArn),
    ...(known(role, 'managedPolicyArns', role.props.managedPolicyArns) ? ((role.props.managedPolicyArns as unknown[] | undefined) ?? []) : []),
  ];
  for (const arn of managedArns) {
    if (typeof arn !== 'string') continue;
    if (MANAGED_SECRET_READERS.test(arn)) grants.push({ source: arn, resources: 'every secret' });
    const own = ofType(resources, TYPES.managedPolicy).find((p) => p.props.arn === arn);
    if (own) grants.push(...fromDocument(own, own.name, own.props.policy));
  }
  return { grants, complete };
}

/**
 * A role other than the execution role that may read secrets, and exactly which: its job needs
 * them. `complete` is false while the task definitions that name those secrets are unknown
 * (preview): a grant outside `arns` then waits for the update.
 */
interface Allowance {
  job: string;
  arns: Set<string>;
  complete: boolean;
}

/**
 * Which roles may read which secrets besides the execution role: the task role exactly the RDS
 * credentials secret its container names in DATABASE_CREDENTIALS_ARN (the service reads it itself,
 * RDS rotates it), which must be the master user secret of an RDS instance of this stack; a role
 * GitHub Actions assumes exactly the task's AUTH_JWT_SECRET (the pipeline signs its short-lived ops
 * token with it). `known` is false while a task role ARN or a trust policy is unknown (preview):
 * any role may then be one of these.
 */
function allowances(resources: PolicyResource[], verdict: Verdict): { byRole: Map<PolicyResource, Allowance>; known: boolean } {
  const roles = ofType(resources, TYPES.role);
  const byRole = new Map<PolicyResource, Allowance>();
  let known = true;
  const rdsSecrets = new Set<unknown>();
  let rdsKnown = true;
  for (const db of ofType(resources, TYPES.dbInstance)) {
    const secrets = db.props.masterUserSecrets;
    if (!verdict.known(db, 'masterUserSecrets', secrets)) rdsKnown = false;
    else for (const s of (secrets as { secretArn?: unknown }[] | undefined) ?? []) rdsSecrets.add(s.secretArn);
  }
  const jwtSecrets = new Set<string>();
  let containersKnown = true;
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    const containers = containersOf(td, new Verdict());
    if (!containers) containersKnown = false;
    for (const c of containers ?? []) for (const s of c.secrets ?? []) if (s.name === 'AUTH_JWT_SECRET') jwtSecrets.add(s.valueFrom);
    const credentials = (containers ?? []).flatMap((c) => databaseCredentialsArnOf(c) ?? []);
    if (rdsKnown) for (const arn of credentials) if (!rdsSecrets.has(arn)) verdict.fail(`${td.name}: DATABASE_CREDENTIALS_ARN ${arn} is not the master user secret of an RDS instance in this stack`);
    const roleArn = td.props.taskRoleArn;
    if (roleArn === undefined) continue;
    const role = roles.find((r) => !isUnknown(r.props.arn) && r.props.arn === roleArn);
    // While the instances' secrets are unknown the cross-check above waits (pending), and so does this one.
    if (role) byRole.set(role, { job: 'task role', arns: new Set(rdsKnown ? credentials.filter((arn) => rdsSecrets.has(arn)) : credentials), complete: containers !== undefined });
    else if (isUnknown(roleArn) || roles.some((r) => isUnknown(r.props.arn))) known = false;
  }
  for (const role of roles) {
    const github = trustsGitHubActions(role, resources);
    if (github === undefined) known = false;
    else if (github) byRole.set(role, { job: 'GitHub Actions role', arns: jwtSecrets, complete: containersKnown });
  }
  return { byRole, known };
}

/**
 * Every role reads exactly the secrets its job needs, whichever way it is granted (inline role
 * policy, the role's inline policies, an attached AWS or customer managed policy): the task
 * execution role exactly the secrets the task definition references (no wildcard, nothing else);
 * the task role at most the stack's RDS credentials secret its container names; a GitHub Actions
 * role at most the JWT secret; no other role any. At preview the role ARNs and the task's secret
 * ARNs are unknown: what is known (a wildcard, an AWS managed reader) is judged, the rest waits for
 * the update.
 */
export function executionRoleReadsOnlyOurSecrets(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  const roles = ofType(resources, TYPES.role);
  const executionRoles = new Set<PolicyResource>();
  let executionRolesKnown = true;
  for (const td of ofType(resources, TYPES.taskDefinition)) {
    const containers = containersOf(td, verdict);
    const referenced = new Set((containers ?? []).flatMap((c) => (c.secrets ?? []).map((s) => s.valueFrom)));
    const roleArn = td.props.executionRoleArn;
    const role = roles.find((r) => r.props.arn !== undefined && !isUnknown(r.props.arn) && r.props.arn === roleArn);
    if (!role) {
      if (isUnknown(roleArn) || (roleArn !== undefined && roles.some((r) => isUnknown(r.props.arn)))) {
        verdict.pending(td, 'executionRoleArn');
        executionRolesKnown = false;
      } else if (roleArn !== undefined) verdict.fail(`${td.name}: execution role not found in the stack`);
      // ECS pulls `secrets[]` with the execution role: without one, no task of it starts.
      else if (referenced.size > 0) verdict.fail(`${td.name}: takes secrets through valueFrom but has no execution role to read them`);
      continue;
    }
    executionRoles.add(role);
    const granted = new Set<string>();
    const { grants, complete } = secretGrants(role, resources, verdict);
    for (const grant of grants) {
      if (grant.resources === 'every secret') {
        verdict.fail(`${role.name}: reads every secret through ${grant.source}`);
        continue;
      }
      for (const res of grant.resources) {
        if (res.includes('*')) verdict.fail(`${grant.source}: reads secrets with a wildcard resource ${res}`);
        granted.add(res);
      }
    }
    // A known grant beyond what the known task uses is wrong whatever else is pending; a secret the
    // task needs is missing only once every grant is known (pending is already recorded).
    if (!containers) continue;
    for (const arn of granted) if (!referenced.has(arn)) verdict.fail(`${role.name}: may read ${arn}, which the task does not use`);
    if (complete) for (const arn of referenced) if (!granted.has(arn)) verdict.fail(`${role.name}: cannot read ${arn}, which the task needs`);
  }
  const allowed = allowances(resources, verdict);
  for (const role of roles) {
    if (executionRoles.has(role)) continue;
    const { grants } = secretGrants(role, resources, verdict);
    if (grants.length === 0) continue;
    const allowance = allowed.byRole.get(role);
    if (!allowance) {
      // Until every execution, task and GitHub role is known, a role that reads secrets may be one of them.
      if (!executionRolesKnown) verdict.pending(role, 'whether it is a task execution role');
      else if (!allowed.known) verdict.pending(role, 'whether it is a task or GitHub Actions role');
      else for (const grant of grants) verdict.fail(`${grant.source}: a non-execution role (${role.name}) reads secrets`);
      continue;
    }
    for (const grant of grants) {
      if (grant.resources === 'every secret') verdict.fail(`${grant.source}: the ${allowance.job} (${role.name}) reads every secret`);
      else
        for (const res of grant.resources) {
          if (allowance.arns.has(res)) continue;
          if (allowance.complete) verdict.fail(`${grant.source}: the ${allowance.job} (${role.name}) may read ${res}, which its job does not need`);
          else verdict.pending(role, 'what its job may read');
        }
    }
  }
  return verdict;
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
