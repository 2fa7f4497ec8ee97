import { appendFileSync } from 'node:fs';
import { smokeEntry } from '../smoke-transactions/main';
import { type ActionsCore, runStepEntry } from '../lib/step';
import { REHEARSAL_JWT_SECRET, REHEARSAL_STRIPE_KEY, type Environment } from './environment';

/**
 * The release's step programs run in the rehearsal through their own entries, as deploy.yml runs
 * them: inputs the Actions way (`getInput`), outputs and the failure message captured by a small
 * @actions/core stand-in, the report written to the rehearsal's log. Only the world differs: the
 * environment's balancer is the service URL and its sandbox is Stripe.
 */

export interface StepRun {
  code: number;
  outputs: Record<string, unknown>;
  /** The failure sentence (setFailed) or the success line (info). */
  message: string;
}

export async function runEntry<I>(entry: Parameters<typeof runStepEntry<I>>[0], inputs: Record<string, string>, logFile: string): Promise<StepRun> {
  const outputs: Record<string, unknown> = {};
  let message = '';
  const core: ActionsCore = {
    getInput: (name) => inputs[name] ?? '',
    setOutput: (name, value) => {
      outputs[name] = value;
    },
    setFailed: (text) => {
      message = text;
    },
    setSecret: () => undefined,
    info: (text) => {
      message = text;
    },
  };
  const code = await runStepEntry(entry, { core, env: {}, out: (s) => appendFileSync(logFile, s) });
  appendFileSync(logFile, `${message}\n`);
  return { code, outputs, message };
}

/** The variables `--env local` reads, pointed at one rehearsal environment. */
export function localOpsEnv(env: Environment): NodeJS.ProcessEnv {
  return {
    PORT: String(env.balancer.port),
    SANDBOX_PORT: String(new URL(env.sandbox.url).port),
    STRIPE_SECRET_KEY: REHEARSAL_STRIPE_KEY,
    AUTH_JWT_SECRET: REHEARSAL_JWT_SECRET,
    AUTH_JWT_ISSUER: '',
    AUTH_JWT_AUDIENCE: '',
  };
}

/** pipelines/smoke-transactions (`npm run pipeline:smoke-transactions`) against an environment. */
export async function smokeTransactions(env: Environment, mode: 'full' | 'readonly', logFile: string): Promise<StepRun> {
  const entry = smokeEntry({ env: localOpsEnv(env) });
  return runEntry(entry, { mode, env: 'local', service_url: env.balancer.url, timeout_seconds: '45', poll_ms: '500' }, logFile);
}
