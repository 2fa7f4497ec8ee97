import { type Doc, jobsOf, stepsOf, triggers, type Workflow } from './workflow-rules';

/**
 * The release's own rules, over deploy.yml, rollback.yml and ci.yml: the job graph, the automatic
 * rollback, concurrency. Each returns the violations it finds (empty = the rule holds).
 */

/** Every job `name` depends on, directly or not. */
export function ancestors(wf: Workflow, name: string): Set<string> {
  const jobs = wf.doc.jobs ?? {};
  const seen = new Set<string>();
  const visit = (n: string) => {
    const needs = jobs[n]?.needs;
    for (const d of (Array.isArray(needs) ? needs : needs ? [needs] : []) as string[])
      if (!seen.has(d)) {
        seen.add(d);
        visit(d);
      }
  };
  visit(name);
  return seen;
}

/** The release order, each gate after the one before it (canary-analysis runs alongside production). */
export const RELEASE_ORDER = ['validate', 'staging', 'staging-smoke', 'production', 'production-smoke'] as const;
export const PRODUCTION_JOBS = ['production', 'canary-analysis', 'production-smoke'] as const;

const needsOf = (job: Doc | undefined): string[] => (Array.isArray(job?.needs) ? job.needs : job?.needs ? [job.needs] : []);

/**
 * deploy.yml: validation → staging → staging smoke → approval → production, with canary analysis
 * alongside production (both start from the same job once approved: `pulumi up` returns only after
 * ECS's canary and bake, too late to judge the canary) → production smoke after both, none of
 * those jobs running after its predecessor failed (no job-level `if`); the gates run where they
 * should (environment, commands); the image is built once.
 */
export function releaseGraphViolations(wf: Workflow): string[] {
  const out: string[] = [];
  const jobs = wf.doc.jobs ?? {};
  for (const name of [...RELEASE_ORDER, 'canary-analysis']) if (!jobs[name]) out.push(`deploy.yml has no ${name} job`);
  if (out.length) return out;
  RELEASE_ORDER.forEach((name, i) => {
    if (i > 0 && !ancestors(wf, name).has(RELEASE_ORDER[i - 1]!)) out.push(`${name} does not need ${RELEASE_ORDER[i - 1]} (directly or through another job)`);
  });
  for (const name of [...RELEASE_ORDER, 'canary-analysis'])
    if (jobs[name].if !== undefined) out.push(`${name} has a job-level if (${jobs[name].if}): it could run after a failed gate`);
  // Canary analysis: after staging smoke and the approval, beside production, before production smoke.
  const canary = ancestors(wf, 'canary-analysis');
  if (!canary.has('staging-smoke')) out.push('canary-analysis does not need staging-smoke (directly or through another job)');
  if (canary.has('production')) out.push('canary-analysis waits for production to finish: pulumi up returns after the canary, too late to judge it');
  if (!needsOf(jobs['canary-analysis']).some((n) => needsOf(jobs.production).includes(n) && ancestors(wf, n).has('staging-smoke')))
    out.push('canary-analysis and production do not start from the same job after staging smoke');
  if (!ancestors(wf, 'production-smoke').has('canary-analysis')) out.push('production-smoke does not need canary-analysis');
  const envName = (j: Doc) => (typeof j.environment === 'string' ? j.environment : j.environment?.name);
  if (jobs.validate.uses !== './.github/workflows/ci.yml') out.push('validate does not run ci.yml');
  for (const name of ['staging', 'staging-smoke']) if (envName(jobs[name]) !== 'staging') out.push(`${name} does not run in the staging environment`);
  for (const name of PRODUCTION_JOBS) if (envName(jobs[name]) !== 'production') out.push(`${name} does not run in the production environment`);
  // Approval: a job in an environment other than production, between staging smoke and production.
  const approvals = [...ancestors(wf, 'production')].filter((n) => /approv/.test(n) && envName(jobs[n]) && envName(jobs[n]) !== 'production' && ancestors(wf, n).has('staging-smoke'));
  if (approvals.length === 0 || !approvals.every((a) => canary.has(a))) out.push('production and canary-analysis do not wait for an approval job (an environment with required reviewers) after staging smoke');
  const text = (name: string) => JSON.stringify(jobs[name]?.steps ?? []);
  for (const name of ['staging', 'production']) {
    if (!/pulumi up --stack \\"\$STACK\\"/.test(text(name)) || !/pulumi config set image \\"\$IMAGE\\"/.test(text(name))) out.push(`${name} does not pulumi up with the image set in the stack config`);
    if (!/needs\.build\.outputs\.\w*image/.test(JSON.stringify(jobs[name].env ?? {}))) out.push(`${name} does not deploy the built image (needs.build.outputs.*image)`);
    if (!/pipeline:wait-deployment/.test(text(name))) out.push(`${name} does not wait for the ECS deployment (pipeline:wait-deployment)`);
  }
  if (!/pipeline:canary-analysis/.test(text('canary-analysis'))) out.push('canary-analysis does not run pipeline:canary-analysis');
  const smokeMode = (name: string) => (jobs[name]?.steps ?? []).find((s: Doc) => /pipeline:smoke-transactions/.test(s.run ?? ''))?.env?.INPUT_MODE;
  if (smokeMode('staging-smoke') !== 'full') out.push('staging smoke is not mode full');
  if (smokeMode('production-smoke') !== 'readonly') out.push('production smoke is not mode readonly');
  const builders = Object.entries(jobs).filter(([, j]) => stepsOf(j as Doc).some((s) => String(s.uses ?? '').startsWith('docker/build-push-action@')));
  if (builders.length !== 1 || builders[0]![0] !== 'build') out.push(`the image must be built by one job, build (found ${builders.map(([n]) => n).join(', ') || 'none'})`);
  if (!ancestors(wf, 'staging').has('build') || !ancestors(wf, 'production').has('build')) out.push('staging and production must need build');
  return out;
}

/**
 * The rollback job: calls rollback.yml for production when a job failed (`failure()`) and
 * production had started (not skipped), after every production job.
 */
export function rollbackJobViolations(wf: Workflow, rollbackWf: Workflow): string[] {
  const out: string[] = [];
  const entry = Object.entries(wf.doc.jobs ?? {}).find(([, j]) => (j as Doc).uses === './.github/workflows/rollback.yml');
  if (!entry) return ['no job of deploy.yml calls ./.github/workflows/rollback.yml'];
  const [name, job] = entry as [string, Doc];
  const needs = new Set(Array.isArray(job.needs) ? job.needs : [job.needs]);
  for (const p of PRODUCTION_JOBS) if (!needs.has(p)) out.push(`${name} does not need ${p}`);
  const cond = String(job.if ?? '');
  if (!/\bfailure\(\)/.test(cond)) out.push(`${name} does not run on failure() (if: ${cond || 'none'})`);
  if (/\balways\(\)|\bsuccess\(\)/.test(cond) || /\|\|/.test(cond)) out.push(`${name}'s if (${cond}) also runs when nothing failed`);
  if (!/needs\.production\.result\s*!=\s*'skipped'/.test(cond)) out.push(`${name} also runs when production never started (if: ${cond}): it needs needs.production.result != 'skipped'`);
  if (job.with?.stack !== 'production') out.push(`${name} does not roll back the production stack`);
  const callInputs = triggers(rollbackWf).workflow_call?.inputs ?? {};
  for (const key of Object.keys(job.with ?? {})) if (!callInputs[key]) out.push(`${name} passes ${key}, which rollback.yml's workflow_call does not declare`);
  for (const [key, spec] of Object.entries(callInputs)) if ((spec as Doc).required && job.with?.[key] === undefined) out.push(`${name} does not pass rollback.yml's required input ${key}`);
  return out;
}

/** rollback.yml's two entry points: dispatch with stack, reason, scope app|stripe|both, disable endpoint yes/no; and workflow_call. */
export function rollbackWorkflowViolations(wf: Workflow): string[] {
  const out: string[] = [];
  const dispatch = triggers(wf).workflow_dispatch?.inputs ?? {};
  const expect: Record<string, string[] | undefined> = { stack: ['production', 'staging'], reason: undefined, scope: ['app', 'both', 'stripe'], disable_endpoint: ['no', 'yes'] };
  for (const [key, options] of Object.entries(expect)) {
    if (!dispatch[key]) out.push(`workflow_dispatch has no input ${key}`);
    else if (options && JSON.stringify([...(dispatch[key].options ?? [])].sort()) !== JSON.stringify(options)) out.push(`workflow_dispatch input ${key} must offer ${options.join(', ')}`);
  }
  if (!triggers(wf).workflow_call) out.push('rollback.yml cannot be called (no workflow_call)');
  const text = JSON.stringify(wf.doc.jobs ?? {});
  if (!/npm run rollback -- /.test(text)) out.push('rollback.yml does not run npm run rollback');
  if (!/pipeline:app-rollback/.test(text)) out.push('rollback.yml does not run pipeline:app-rollback');
  return out;
}

// ---------------------------------------------------------------- concurrency

/**
 * Deploys: workflow-level group with cancel-in-progress false, and each job that runs `pulumi up`
 * holds its environment's group (`deploy-<environment>`), never cancelled.
 */
export function deployConcurrencyViolations(wf: Workflow): string[] {
  const out: string[] = [];
  if (!wf.doc.concurrency?.group || wf.doc.concurrency['cancel-in-progress'] !== false) out.push('deploy.yml: workflow-level concurrency must have a group and cancel-in-progress: false');
  for (const [name, job] of jobsOf(wf)) {
    if (!/pulumi up\b/.test(JSON.stringify(job.steps ?? []))) continue;
    const env = typeof job.environment === 'string' ? job.environment : job.environment?.name;
    const c = job.concurrency;
    if (!c || typeof c !== 'object') out.push(`deploy.yml ${name}: runs pulumi up without a concurrency group`);
    else {
      if (!env || !String(c.group).includes(env)) out.push(`deploy.yml ${name}: concurrency group ${c.group} is not per environment (${env})`);
      if (c['cancel-in-progress'] !== false) out.push(`deploy.yml ${name}: a running deploy could be cancelled (cancel-in-progress must be false)`);
    }
  }
  return out;
}

/** ci.yml: a pull request's new push cancels its superseded run; nothing else is cancelled. */
export function ciConcurrencyViolations(wf: Workflow): string[] {
  const c = wf.doc.concurrency;
  const out: string[] = [];
  if (!('pull_request' in triggers(wf))) out.push('ci.yml does not run on pull_request');
  if (!c?.group || !/github\.event\.pull_request\.number/.test(String(c.group))) out.push('ci.yml: the concurrency group is not per pull request');
  const cancel = c?.['cancel-in-progress'];
  if (cancel !== true && !/^\$\{\{\s*github\.event_name\s*==\s*'pull_request'\s*\}\}$/.test(String(cancel))) out.push(`ci.yml: cancel-in-progress must cancel superseded pull-request runs (got ${JSON.stringify(cancel)})`);
  return out;
}

