import { join } from 'node:path';

/**
 * The bad-release catalogue: each fault is a patch applied to the candidate's worktree (the code
 * under test carries no fault switches), with the gate that must catch it. Caught earlier is luck
 * or a gate doing another's job; caught later means the gate meant for it let it through. Both
 * fail the rehearsal. faults/README.md describes each bug and why the gates before it miss it.
 */

/** The release's gates, in the order deploy.yml runs them. */
export const GATES = ['validation', 'staging-deploy', 'staging-smoke', 'production-deploy', 'canary-analysis', 'production-smoke', 'proof'] as const;
export type Gate = (typeof GATES)[number];

export interface Fault {
  name: string;
  gate: Gate;
  /** Needs load over time to show: a bake long enough for it (seconds), when the default is too short. */
  minBakeSeconds?: number;
}

export const FAULTS: readonly Fault[] = [
  { name: 'crash-on-boot', gate: 'staging-deploy' },
  { name: 'broken-migration', gate: 'staging-deploy' },
  { name: 'wrong-webhook-secret-handling', gate: 'staging-smoke' },
  { name: 'wrong-price', gate: 'staging-smoke' },
  { name: 'lost-payment-effect', gate: 'staging-smoke' },
  { name: 'premium-not-granted', gate: 'staging-smoke' },
  { name: 'checkout-5xx', gate: 'canary-analysis' },
  { name: 'slow-responses', gate: 'canary-analysis' },
  { name: 'memory-or-connection-leak', gate: 'canary-analysis', minBakeSeconds: 60 },
];

export const FAULTS_DIR = join(__dirname, 'faults');

export const patchFor = (fault: Fault): string => join(FAULTS_DIR, `${fault.name}.patch`);

export function findFault(name: string): Fault | undefined {
  return FAULTS.find((f) => f.name === name);
}
