import { PolicyResource, TYPES, Verdict, isUnknown, ofType } from './types';

const GITHUB = 'token.actions.githubusercontent.com';
/** A sub claim pinned to one repository and one environment, or to the main branch; no wildcard anywhere. */
const PINNED_SUB = /^repo:([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+):(environment:[A-Za-z0-9_. -]+|ref:refs\/heads\/main)$/;

interface Statement {
  Effect?: unknown;
  Principal?: { Federated?: unknown } | string;
  Action?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/**
 * Trust in GitHub's OIDC provider: the provider's ARN (`...:oidc-provider/token.actions...`), the
 * ARN of a provider resource of this stack for that URL, or any condition on GitHub's claims.
 */
const isGitHubFederation = (st: Statement, providerArns: Set<unknown>): boolean =>
  (typeof st.Principal === 'object' && list(st.Principal?.Federated).some((p) => providerArns.has(p) || (typeof p === 'string' && p.endsWith(`oidc-provider/${GITHUB}`)))) ||
  Object.values(st.Condition ?? {}).some((block) => Object.keys(block).some((key) => key.startsWith(`${GITHUB}:`)));

/**
 * Whether GitHub Actions may assume `role` (an Allow statement federated with GitHub's OIDC
 * provider); undefined while its trust policy is unknown (preview).
 */
export function trustsGitHubActions(role: PolicyResource, resources: PolicyResource[]): boolean | undefined {
  const doc = role.props.assumeRolePolicy;
  if (isUnknown(doc)) return undefined;
  if (typeof doc !== 'string') return false;
  const providerArns = new Set(ofType(resources, TYPES.oidcProvider).filter((p) => String(p.props.url).includes(GITHUB)).map((p) => p.props.arn));
  return (list((JSON.parse(doc) as { Statement?: unknown }).Statement) as Statement[]).some((st) => st.Effect === 'Allow' && isGitHubFederation(st, providerArns));
}

/** Values a condition gives `key`, per operator (StringEquals, StringLike, ...). */
function conditionValues(st: Statement, key: string): { operator: string; values: unknown[] }[] {
  return Object.entries(st.Condition ?? {}).flatMap(([operator, block]) => (key in block ? [{ operator, values: list(block[key]) }] : []));
}

/**
 * Roles GitHub Actions assumes through OIDC trust exactly this repository's deploy jobs: `aud` is
 * `sts.amazonaws.com` (StringEquals), and every `sub` is `repo:<owner>/<repo>:environment:<env>`
 * or `repo:<owner>/<repo>:ref:refs/heads/main`, with no wildcard (a `repo:owner/*` or
 * `repo:*` lets any repository deploy), one repository, and at least one environment (the
 * GitHub environment's protection rules gate the deploy), except a role that may only push
 * images (`ecr:` actions, the build on main).
 */
export function deployRolesPinnedToRepository(resources: PolicyResource[]): Verdict {
  const verdict = new Verdict();
  const providerArns = new Set(ofType(resources, TYPES.oidcProvider).filter((p) => String(p.props.url).includes(GITHUB)).map((p) => p.props.arn));
  for (const role of ofType(resources, TYPES.role)) {
    const doc = role.props.assumeRolePolicy;
    if (!verdict.known(role, 'assumeRolePolicy', doc) || typeof doc !== 'string') continue;
    const statements = list((JSON.parse(doc) as { Statement?: unknown }).Statement) as Statement[];
    for (const st of statements.filter((st) => isGitHubFederation(st, providerArns))) {
      if (st.Effect !== 'Allow') continue;
      const aud = conditionValues(st, `${GITHUB}:aud`);
      if (!aud.some((c) => c.operator === 'StringEquals' && c.values.length === 1 && c.values[0] === 'sts.amazonaws.com') || aud.some((c) => c.values.some((v) => v !== 'sts.amazonaws.com')))
        verdict.fail(`${role.name}: trust policy does not pin ${GITHUB}:aud to sts.amazonaws.com with StringEquals`);
      const subs = conditionValues(st, `${GITHUB}:sub`).flatMap((c) => c.values);
      if (subs.length === 0) {
        verdict.fail(`${role.name}: trust policy does not pin ${GITHUB}:sub: any repository could assume it`);
        continue;
      }
      const repos = new Set<string>();
      for (const sub of subs) {
        const m = typeof sub === 'string' ? PINNED_SUB.exec(sub) : null;
        if (!m) verdict.fail(`${role.name}: sub ${String(sub)} is not pinned to one repository and an environment or main`);
        else repos.add(m[1] as string);
      }
      if (repos.size > 1) verdict.fail(`${role.name}: trusted by several repositories (${[...repos].join(', ')})`);
      if (!subs.some((s) => typeof s === 'string' && s.includes(':environment:'))) {
        const beyond = beyondImagePush(role, resources, verdict);
        if (beyond.length > 0) verdict.fail(`${role.name}: no sub pins a GitHub environment, yet it may do more than push images (${beyond.join(', ')})`);
      }
    }
  }
  return verdict;
}

/**
 * What `role` is known to be allowed besides ECR: a role without a GitHub environment (the build
 * on main, no approval gate) may push images and nothing else; deploying, reading secrets or
 * passing roles needs the environment's protection rules. A policy or role reference unknown at
 * preview is recorded as pending and judged at the update; what is known is judged now.
 */
function beyondImagePush(role: PolicyResource, resources: PolicyResource[], verdict: Verdict): string[] {
  const mine = (holder: PolicyResource): boolean => {
    const ref = holder.props.role;
    return verdict.known(holder, 'role', ref) && ref !== undefined && (ref === role.props.name || ref === role.props.arn);
  };
  const documents: unknown[] = ofType(resources, TYPES.rolePolicy).filter(mine).map((rp) => rp.props.policy);
  for (const inline of (role.props.inlinePolicies as { policy?: unknown }[] | undefined) ?? []) documents.push(inline.policy);
  const actions = ofType(resources, TYPES.rolePolicyAttachment).filter(mine).map((a) => `attached ${isUnknown(a.props.policyArn) ? 'a policy' : String(a.props.policyArn)}`);
  for (const doc of documents) {
    if (!verdict.known(role, 'its permission policies', doc)) continue;
    for (const st of list(typeof doc === 'string' ? (JSON.parse(doc) as { Statement?: unknown }).Statement : undefined) as { Effect?: unknown; Action?: unknown; NotAction?: unknown }[]) {
      if (st.Effect !== 'Allow') continue;
      if (st.NotAction !== undefined) actions.push('NotAction');
      for (const action of list(st.Action)) if (typeof action !== 'string' || !/^ecr:[A-Za-z]+$/.test(action)) actions.push(String(action));
    }
  }
  return actions;
}
