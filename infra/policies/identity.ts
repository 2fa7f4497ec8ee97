import { PolicyResource, TYPES, Verdict, ofType } from './types';

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

/** Values a condition gives `key`, per operator (StringEquals, StringLike, ...). */
function conditionValues(st: Statement, key: string): { operator: string; values: unknown[] }[] {
  return Object.entries(st.Condition ?? {}).flatMap(([operator, block]) => (key in block ? [{ operator, values: list(block[key]) }] : []));
}

/**
 * Roles GitHub Actions assumes through OIDC trust exactly this repository's deploy jobs: `aud` is
 * `sts.amazonaws.com` (StringEquals), and every `sub` is `repo:<owner>/<repo>:environment:<env>`
 * or `repo:<owner>/<repo>:ref:refs/heads/main`, with no wildcard (a `repo:owner/*` or
 * `repo:*` lets any repository deploy), one repository, and at least one environment (the
 * GitHub environment's protection rules gate the deploy).
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
      if (!subs.some((s) => typeof s === 'string' && s.includes(':environment:'))) verdict.fail(`${role.name}: no sub pins a GitHub environment`);
    }
  }
  return verdict;
}
