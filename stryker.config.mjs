import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';

// Mutation testing of the critical paths: `npm run test:mutation` (all scopes) or one scope,
// e.g. `MUTATION_SCOPE=config npm run test:mutation`. Not part of `npm test`: a full run takes hours
// on a small machine; incremental runs only re-test mutants whose code or covering tests changed.
//
// Each scope pairs the code it mutates with the suites that own its behaviour, so a scope's run
// costs those suites, not the whole suite (a mutant in config.ts is reached by every suite that
// starts a service; those incidental kills would hide a weak config.test.ts).
//
// The incremental file lives in reports/ (git-ignored), one per scope: it records file hashes and
// test ids of one working tree and changes on every run. CI keeps reports/ in its cache between
// runs; a full run's results can be recorded in mutation-baseline/ (below).

/** @typedef {{ mutate: string[]; tests: string[]; part?: true; timeoutMS?: number }} Scope */

const POLICY_TESTS = ['test/infra/policy-violations.test.ts', 'test/infra/policy-preview.test.ts', 'test/infra/policy-access-contract.test.ts', 'test/infra/policy-resources-contract.test.ts'];
const WEBHOOK_TESTS = ['test/service/webhooks/!(burst).test.ts', 'test/service/reconciliation/**/*.test.ts'];

/** Suites of test/service/webhooks/ by name, with the replay's lanes suite (it drives the same path). */
const webhookSuites = (...names) => [...names.map((suite) => `test/service/webhooks/${suite}.test.ts`), 'test/service/reconciliation/replay-lanes.test.ts'];
const INTAKE_TESTS = webhookSuites('signature-contract', 'endpoint', 'hostile-events', 'versioned-endpoint-url', 'intake', 'ack-cost', 'ingest-contract', 'ingest-boundaries', 'user-writes-cost', 'refund-payment-race', 'events-contract', 'payment-rules');
const INBOX_FILES = ['service/webhooks/inbox.ts', 'service/webhooks/processor.ts', 'service/webhooks/pause.ts'];
const INBOX_TESTS = webhookSuites('ack-before-apply', 'ack-cost', 'apply-cost', 'drain', 'endpoint', 'inbox-states', 'ingest-boundaries', 'ingest-contract', 'pause-and-replay', 'refund-payment-race', 'user-writes-cost');

/** @type {Record<string, Scope>} */
const SCOPES = {
  config: {
    mutate: ['service/shared/config.ts'],
    tests: ['test/service/shared/config.test.ts', 'test/service/shared/config-contract.test.ts', 'test/service/shared/config-database.test.ts'],
  },
  // Pure functions: a mutant that loops forever (a regex or a digit-group loop) is known within
  // seconds; at the default 60 s, 21 such mutants were most of a run.
  redact: {
    mutate: ['service/shared/redact.ts'],
    tests: ['test/service/shared/redact-rules.test.ts', 'test/service/shared/redact-property.test.ts', 'test/service/shared/secret-sinks.test.ts'],
    timeoutMS: 10_000,
  },
  // The policies' own suites (violating and compliant fixtures per policy, unknown values at
  // preview), not program-policies.test.ts: it runs the whole program per case and judges the
  // program, not the policies.
  // Pulumi mocks, no servers: a mutant that loops is known well before the default 60 s, which
  // the timeouts of the first run (a minute each) made most of its time.
  policies: { mutate: ['infra/policies/**/*.ts'], tests: POLICY_TESTS, timeoutMS: 15_000 },
  // The same folder in three parts of 340-370 lines each: 1,396 mutants never finished in one
  // sitting on two shared cores, and Stryker records a run only when it completes.
  // The parts use 8 s: a policy mutant that hangs waits on an output that never resolves, and in
  // the first runtime run 121 of 328 mutants did, at 15 s each (over half its time). Stryker adds
  // the limit to twice the covering tests' measured time, which already holds the slow program cases.
  'policies-access': { mutate: ['infra/policies/secrets.ts', 'infra/policies/identity.ts'], tests: POLICY_TESTS, part: true, timeoutMS: 8_000 },
  'policies-runtime': {
    mutate: ['infra/policies/runtime.ts', 'infra/policies/rollout.ts', 'infra/policies/alarms.ts'],
    tests: POLICY_TESTS,
    part: true,
    timeoutMS: 8_000,
  },
  'policies-resources': {
    mutate: ['infra/policies/network.ts', 'infra/policies/stores.ts', 'infra/policies/names.ts', 'infra/policies/types.ts', 'infra/policies/index.ts'],
    tests: POLICY_TESTS,
    part: true,
    timeoutMS: 8_000,
  },
  security: { mutate: ['service/security/**/*.ts'], tests: ['test/service/security/**/*.test.ts', 'test/service/http/**/*.test.ts'] },
  health: {
    mutate: ['service/monitoring/health.ts'],
    tests: ['test/service/monitoring/health-thresholds.test.ts', 'test/service/monitoring/payment-health-details.test.ts', 'test/service/monitoring/payment-health-window.test.ts', 'test/service/monitoring/payment-health-flows.test.ts', 'test/service/health.test.ts'],
  },
  // redis-down.test.ts owns what checkout and the portal answer when the maintenance flag cannot be read.
  checkout: {
    mutate: ['service/checkout/**/*.ts'],
    tests: ['test/service/checkout/**/*.test.ts', 'test/service/maintenance/**/*.test.ts', 'test/service/faults/redis-down.test.ts'],
  },
  maintenance: { mutate: ['service/maintenance/**/*.ts'], tests: ['test/service/maintenance/**/*.test.ts', 'test/service/checkout/**/*.test.ts'] },
  // Webhooks: not burst.test.ts (1,000 deliveries: a minute per surviving mutant, and every line it covers is
  // covered by a focused suite) nor faults/ (they own the dependency behaviour, not the handlers').
  webhooks: { mutate: ['service/webhooks/**/*.ts'], tests: WEBHOOK_TESTS },
  // The same folder in three parts, each short enough to finish (and be recorded) in one sitting;
  // the folder's score is the sum of the three. A mutant that stalls the inbox makes its tests wait
  // for deliveries that never settle: in the first ingest run, 27 such timeouts at a minute each
  // were half its time. Stryker adds the limit to twice the covering tests' own time plus the
  // suite's measured start-up, so 20 s is still far above a slow machine's jitter.
  // The dashboard rollups' property suite owns what the ledger writers add to them (a payment that
  // learns its user late, moved users): the first run found that branch covered by no webhook suite.
  // effects/ holds the writers' own contract (two observations of one second, amounts that change,
  // authoritative reads): rare in Stripe-shaped events, so the first run's survivors were there.
  'webhooks-effects': {
    mutate: ['service/webhooks/effects/**/*.ts'],
    tests: [...WEBHOOK_TESTS, 'test/service/webhooks/effects/*.test.ts', 'test/service/dashboard/rollups-property.test.ts'],
    part: true,
    timeoutMS: 20_000,
  },
  'webhooks-events': {
    mutate: ['service/webhooks/handlers.ts', 'service/webhooks/event-schema.ts', 'service/webhooks/refund-dispute-events.ts'],
    tests: WEBHOOK_TESTS,
    part: true,
    timeoutMS: 20_000,
  },
  // Intake: the signature, the route, the acknowledgement, lanes, pressure, resolving users, payment
  // keys; against the suites that own them, for the same reason as the inbox below.
  'webhooks-intake': {
    mutate: ['service/webhooks/*.ts', ...INBOX_FILES.map((file) => `!${file}`), '!service/webhooks/handlers.ts', '!service/webhooks/event-schema.ts', '!service/webhooks/refund-dispute-events.ts'],
    tests: INTAKE_TESTS,
    part: true,
    timeoutMS: 20_000,
  },
  // The inbox, the processor and the drain against the suites that own them. Every delivery of
  // every webhook suite passes through these files, so against the whole folder each mutant ran
  // hundreds of incidental tests (about two mutants a minute: the folder's run never finished in a
  // sitting), and those incidental kills would hide a weak owning suite, as for config.ts above.
  'webhooks-inbox': {
    mutate: INBOX_FILES,
    tests: INBOX_TESTS,
    part: true,
    timeoutMS: 20_000,
  },
};

const name = process.env.MUTATION_SCOPE;
if (name !== undefined && !(name in SCOPES)) throw new Error(`MUTATION_SCOPE must be one of ${Object.keys(SCOPES).join(', ')} (got ${name})`);
const selected = name ? [SCOPES[name]] : Object.values(SCOPES).filter((s) => !s.part);
const unique = (values) => [...new Set(values)];
const mutate = unique(selected.flatMap((s) => s.mutate));

// The TypeScript checker compiles, per mutant, only the mutated files and what they import (not the
// whole repository: on two shared cores that compile, not the tests, was the bottleneck, and a type
// error in an unrelated file being edited stopped the run). Type errors a mutant would cause in its
// importers are left to the tests, which run through swc (types stripped).
const tsconfigFile = `.stryker-tsconfig.${name ?? 'all'}.json`;
writeFileSync(
  tsconfigFile,
  `${JSON.stringify({ extends: './tsconfig.json', compilerOptions: { types: ['node'] }, include: mutate.map((glob) => glob.replace(/\/\*\*\/\*\.ts$/, '')) }, null, 2)}\n`,
);

// A scope's recorded results (`mutation-baseline/<scope>.incremental.json`, committed by
// `npm run test:mutation:record` after a full run) seed a checkout that has no results of its own
// (a fresh clone, CI without its cache), so it re-tests only what changed since they were recorded
// instead of hours of mutants. In a merge conflict on one, take either side: the next run corrects it.
const incrementalFile = `reports/mutation/${name ?? 'all'}.incremental.json`;
const baselineFile = `mutation-baseline/${name ?? 'all'}.incremental.json`;
if (!existsSync(incrementalFile) && existsSync(baselineFile)) {
  mkdirSync('reports/mutation', { recursive: true });
  copyFileSync(baselineFile, incrementalFile);
}

// The embedded-PGlite template (test/support/global-setup.ts) is built once per Stryker worker and
// reused by every mutant run instead of being rebuilt for each one.
process.env.UPIIK_KEEP_PGLITE_TEMPLATE = '1';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  // The same node flags as `npm test` (jest runs the service's dynamic imports of ESM-only packages).
  testRunnerNodeArgs: ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning'],
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    config: { testMatch: unique(selected.flatMap((s) => s.tests)).map((glob) => `<rootDir>/${glob}`), maxWorkers: 1 },
    enableFindRelatedTests: false,
  },
  coverageAnalysis: 'perTest',
  // Static mutants (code run once at module load: constant tables, schema definitions) cannot be
  // covered per test, so Stryker runs every test of the scope for each of them: on two shared
  // cores that was 99 % of a scope's time (40-60 s per static mutant). They are left out of the
  // score (reported as "Ignored" with their count); the values they define are pinned by the
  // tests of the code that reads them.
  ignoreStatic: true,
  checkers: ['typescript'],
  tsconfigFile,
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate,
  // Two cores shared with everything else: one test process at a time.
  concurrency: 1,
  // Jest re-run in one process for every mutant keeps module registries and embedded databases
  // alive: a worker grew past 6 GB within 100 mutants. A fresh worker every 25 runs keeps it flat.
  maxTestRunnerReuse: 25,
  // Extra time a mutant gets over its covering tests' own (x timeoutFactor) before it counts as
  // timed out (killed): generous for suites that start services on a loaded machine.
  timeoutMS: name ? (SCOPES[name].timeoutMS ?? 60_000) : 60_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile,
  thresholds: { high: 90, low: 85, break: 85 },
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name ?? 'all'}.html` },
  jsonReporter: { fileName: `reports/mutation/${name ?? 'all'}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  ignorePatterns: ['/.data', '/.rehearsal', '/reports', '/dist', '/coverage', '/.stryker-tmp'],
};
