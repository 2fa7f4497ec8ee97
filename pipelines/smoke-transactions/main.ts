/**
 * The smoke-transactions step's entry: reads the inputs the Actions way (INPUT_MODE, INPUT_ENV,
 * INPUT_SERVICE_URL, INPUT_TIMEOUT_SECONDS, INPUT_POLL_MS), resolves the target through
 * scripts/lib/ops-env.ts (env/local.env and the sandbox locally; the Pulumi stack's outputs and
 * Secrets Manager in AWS), signs the smoke user's and an admin token, picks how a Checkout Session
 * gets paid there (payers.ts), and runs run.ts. Outputs: ok, steps (JSON name/ok/ms), smoke_user.
 *
 *   INPUT_MODE=full INPUT_ENV=local npx tsx pipelines/smoke-transactions/main.ts
 *
 * Exit codes: 0 passed; 1 a step failed (the message names it and what to check); 2 wrong inputs,
 * including mode full on production (live keys: Stripe forbids test cards in live mode).
 */
import { randomBytes } from 'node:crypto';
import { OPS_ENVIRONMENTS, type OpsEnvDeps, type OpsEnvName, opsToken, resolveOpsTarget, stripeFor } from '../../scripts/lib/ops-env';
import { isValidUserId, issueToken } from '../../service/security';
import { realClock, type StepClock } from '../lib/clock';
import { type ActionsCore, InputError, type InputReader, runAsStep, type StepEntry } from '../lib/step';
import { sandboxCheckoutPayer, testModeSubscriptionPayer } from './payers';
import { type Inputs, MODES, run } from './run';

/** The world an entry runs in: the process's in production, a test's own in the suite. */
export interface SmokeWorld {
  env: NodeJS.ProcessEnv;
  opsEnv?: Omit<OpsEnvDeps, 'env'>;
  fetch?: typeof fetch;
  clock?: StepClock;
}

export function readInputs(read: InputReader): Inputs {
  const mode = read.choice('mode', MODES);
  const env = read.choice<OpsEnvName>('env', OPS_ENVIRONMENTS);
  // Production's key is live by the configuration contract (the service refuses to start otherwise):
  // refused here, before any secret is read, rather than after the stack's secret is fetched.
  if (mode === 'full' && env === 'production') {
    throw new InputError('mode full cannot run on production: its Stripe key is live and Stripe forbids test cards in live mode; use mode readonly there');
  }
  const serviceUrl = read.optional('service_url');
  if (serviceUrl !== undefined && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(serviceUrl)) throw new InputError(`input service_url must be an http(s) URL (got ${JSON.stringify(serviceUrl)})`);
  return {
    mode,
    env,
    ...(serviceUrl ? { serviceUrl: serviceUrl.replace(/\/+$/, '') } : {}),
    timeoutSeconds: read.number('timeout_seconds', 60, { min: 1, max: 3600 }),
    pollMs: read.number('poll_ms', 500, { min: 10, max: 60_000 }),
  };
}

/** `smoke-<env>-<run id>-<attempt>` in GitHub Actions (a re-run gets a new user), else random. */
export function smokeUserIdFor(env: OpsEnvName, processEnv: NodeJS.ProcessEnv): string {
  const run = processEnv.GITHUB_RUN_ID ? `${processEnv.GITHUB_RUN_ID}-${processEnv.GITHUB_RUN_ATTEMPT || '1'}` : randomBytes(6).toString('hex');
  const id = `smoke-${env}-${run}`;
  if (!isValidUserId(id)) throw new InputError(`GITHUB_RUN_ID / GITHUB_RUN_ATTEMPT make an invalid user id: ${JSON.stringify(id)}`);
  return id;
}

export function smokeEntry(world: SmokeWorld): StepEntry<Inputs> {
  const fetchFn = world.fetch ?? fetch;
  return {
    title: (inputs) => `smoke-transactions ${inputs.mode} (${inputs.env})`,
    inputs: (read) => readInputs(read),
    run: async (inputs, core: ActionsCore) => {
      const resolved = await resolveOpsTarget(inputs.env, { env: world.env, ...world.opsEnv });
      // Masked in the runner's log even if some library prints them.
      core.setSecret(resolved.stripe.secretKey);
      core.setSecret(resolved.auth.secret);
      const target = inputs.serviceUrl ? { ...resolved, serviceUrl: inputs.serviceUrl } : resolved;
      const smokeUserId = smokeUserIdFor(inputs.env, world.env);
      const stripe = stripeFor(target, 2);
      return run(inputs, {
        target,
        stripe,
        fetch: fetchFn,
        clock: world.clock ?? realClock,
        smokeUserId,
        who: smokeUserId,
        tokens: {
          // Signed per request: a slow run never outlives its token.
          user: () => issueToken(target.auth, { userId: smokeUserId, internal: true, expiresIn: '15m' }),
          admin: () => opsToken(target, smokeUserId),
        },
        // The sandbox has a control API that completes a Checkout Session; Stripe has none (payers.ts).
        payer: target.stripe.apiBase ? sandboxCheckoutPayer(target.stripe.apiBase, fetchFn) : testModeSubscriptionPayer(stripe),
      });
    },
  };
}

export const entry: StepEntry<Inputs> = smokeEntry({ env: process.env });

if (require.main === module) runAsStep(entry);
