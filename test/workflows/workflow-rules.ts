import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * The rules the release workflows keep, as pure functions over parsed workflows: each returns the
 * violations it finds (empty = the rule holds), so a test can show a rule catches a broken copy.
 */

export const ROOT = join(__dirname, '..', '..');
export const WORKFLOW_DIR = join(ROOT, '.github', 'workflows');

/* eslint-disable @typescript-eslint/no-explicit-any -- workflow YAML is untyped data */
export type Doc = Record<string, any>;
export interface Workflow {
  file: string;
  raw: string;
  doc: Doc;
}

export function loadWorkflows(): Workflow[] {
  return readdirSync(WORKFLOW_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((file) => {
      const raw = readFileSync(join(WORKFLOW_DIR, file), 'utf8');
      return { file, raw, doc: parse(raw) as Doc };
    });
}

export const clone = <T>(value: T): T => structuredClone(value);

export const jobsOf = (wf: Workflow): [string, Doc][] => Object.entries(wf.doc.jobs ?? {});
export const stepsOf = (job: Doc): Doc[] => (Array.isArray(job.steps) ? job.steps : []);
const usesAws = (job: Doc) => stepsOf(job).some((s) => typeof s.uses === 'string' && s.uses.startsWith('aws-actions/configure-aws-credentials@'));
/** `on:` parses as the key "on" with the yaml package (YAML 1.2: no boolean "on"). */
export const triggers = (wf: Workflow): Doc => wf.doc.on ?? {};

/** The commands a step or job runs, one string per `run:`. */
function runs(wf: Workflow): { job: string; step: Doc; run: string }[] {
  return jobsOf(wf).flatMap(([job, j]) => stepsOf(j).filter((s) => typeof s.run === 'string').map((step) => ({ job, step, run: step.run as string })));
}

// ---------------------------------------------------------------- npm scripts and step entries

/** Every `npm run <script>` (and `npm test`) a workflow runs exists in package.json. */
export function missingNpmScripts(workflows: Workflow[], scripts: Record<string, string>): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const { job, run } of runs(wf)) {
      for (const m of run.matchAll(/\bnpm run(?:\s+-s|\s+--silent)?\s+([\w:.-]+)/g)) if (!scripts[m[1]!]) out.push(`${wf.file} ${job}: npm run ${m[1]} is not a package.json script`);
      if (/\bnpm test\b/.test(run) && !scripts.test) out.push(`${wf.file} ${job}: npm test has no package.json script`);
    }
  return out;
}

/** The inputs a step entry reads: `read.<kind>('name'`, `helper(read, 'name'`, `getInput('name'`. */
export function inputsReadBy(stepDir: string): { all: Set<string>; required: Set<string> } {
  const all = new Set<string>();
  const required = new Set<string>();
  for (const file of readdirSync(stepDir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(stepDir, file), 'utf8');
    for (const m of source.matchAll(/(?:getInput|read\.(?:string|optional|number|choice|boolean|list)(?:<[^>()]*>)?|\b\w+\(\s*read\s*,)\s*\(?\s*['"]([a-z0-9_]+)['"]\s*([,)])/g)) {
      all.add(m[1]!);
      // read.string('x') with no fallback. (Helpers such as canary-analysis's matching(read, 'x') may sit
      // in a branch of one input form only, so they are not counted as required.)
      if (new RegExp(`read\\.string\\(\\s*['"]${m[1]}['"]\\s*\\)`).test(source)) required.add(m[1]!);
    }
  }
  return { all, required };
}

/** The step program a workflow step runs: `npm run pipeline:<x>` resolved through package.json, or `tsx pipelines/<x>/main.ts`. */
export function stepProgramOf(run: string, scripts: Record<string, string>): string | undefined {
  const script = /\bnpm run(?:\s+-s)?\s+(pipeline:[\w-]+)/.exec(run)?.[1];
  const command = script ? (scripts[script] ?? '') : run;
  return /\bpipelines\/([\w-]+)\/main\.ts\b/.exec(command)?.[1] ?? (script ? `(script ${script}: ${command || 'missing'})` : undefined);
}

/**
 * Every step program a workflow runs exists as pipelines/<step>/main.ts; every INPUT_* the step sets
 * is an input that program reads; every input it requires is set.
 */
export function stepProgramViolations(workflows: Workflow[], scripts: Record<string, string>, root = ROOT): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const { job, step, run } of runs(wf)) {
      const program = stepProgramOf(run, scripts);
      const inputs = Object.keys(step.env ?? {}).filter((k) => k.startsWith('INPUT_'));
      if (!program) {
        if (inputs.length > 0) out.push(`${wf.file} ${job}: sets ${inputs.join(', ')} but runs no pipelines/<step>/main.ts`);
        continue;
      }
      const dir = join(root, 'pipelines', program);
      if (program.startsWith('(') || !existsSync(join(dir, 'main.ts'))) {
        out.push(`${wf.file} ${job}: pipelines/${program}/main.ts does not exist`);
        continue;
      }
      const read = inputsReadBy(dir);
      const set = new Set(inputs.map((k) => k.slice('INPUT_'.length).toLowerCase()));
      for (const name of set) if (!read.all.has(name)) out.push(`${wf.file} ${job}: INPUT_${name.toUpperCase()} is not an input pipelines/${program} reads`);
      for (const name of read.required) if (!set.has(name)) out.push(`${wf.file} ${job}: pipelines/${program} requires input ${name}, the step does not set INPUT_${name.toUpperCase()}`);
    }
  return out;
}

/** `npm run <ops script> -- --flag …`: every flag is one the script's parseFlags declares. */
export function unknownScriptFlags(workflows: Workflow[], scripts: Record<string, string>, root = ROOT): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const { job, run } of runs(wf))
      for (const m of run.matchAll(/\bnpm run\s+([\w:.-]+)\s+--\s/g)) {
        const file = /\btsx\s+(scripts\/[\w/-]+\.ts)\b/.exec(scripts[m[1]!] ?? '')?.[1];
        if (!file) continue;
        const source = readFileSync(join(root, file), 'utf8');
        // The flags on the command line and in a bash array the step builds (flags=(…), flags+=(…)).
        for (const f of run.matchAll(/(?:^|[\s(])--([a-z][a-z-]*)\b/g)) {
          const flag = f[1]!;
          if (!new RegExp(`(^|[\\s{,])['"]?${flag}['"]?\\s*:\\s*\\{\\s*type`, 'm').test(source)) out.push(`${wf.file} ${job}: npm run ${m[1]} has no --${flag} (${file})`);
        }
      }
  return out;
}

// ---------------------------------------------------------------- pins, timeouts, permissions, secrets

/** Actions pinned by a full commit SHA whose version was checked against the action's repository tag. */
export const VERIFIED_PINS: Record<string, { sha: string; version: string }> = {
  'actions/checkout': { sha: '3d3c42e5aac5ba805825da76410c181273ba90b1', version: 'v7.0.1' },
  'actions/setup-node': { sha: '820762786026740c76f36085b0efc47a31fe5020', version: 'v7.0.0' },
  'actions/upload-artifact': { sha: 'bbbca2ddaa5d8feaa63e36b76fdaad77386f024f', version: 'v7.0.0' },
  'aws-actions/configure-aws-credentials': { sha: 'e6de054238d6b7531b4efff3b6587d9aade6a06c', version: 'v6.2.3' },
  'aws-actions/amazon-ecr-login': { sha: '03f1aad4c6c7ffd436567f42f9384779290529bd', version: 'v2.1.7' },
  'docker/setup-buildx-action': { sha: '37fe631027851001ddb9b187196cc803df7f5f0e', version: 'v4.3.0' },
  'docker/build-push-action': { sha: '53b7df96c91f9c12dcc8a07bcb9ccacbed38856a', version: 'v7.3.0' },
  'pulumi/actions': { sha: '8e5e406f4007fca908480587cb9893c07090f58d', version: 'v7.0.0' },
};

/**
 * Every third-party `uses:` (steps and reusable workflows; local `./` ones excepted) is pinned to a
 * 40-hex commit SHA with its version in a comment, and that pin is one of VERIFIED_PINS.
 */
export function unpinnedActions(workflows: Workflow[]): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    wf.raw.split('\n').forEach((line, i) => {
      const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
      if (!m || m[1]!.startsWith('./')) return;
      const where = `${wf.file}:${i + 1}`;
      const ref = /^([\w.-]+\/[\w.-]+)(?:\/[\w./-]+)?@([^\s#]+)$/.exec(m[1]!);
      if (!ref) return void out.push(`${where}: ${m[1]} is not owner/repo@ref`);
      const [, action, sha] = ref;
      if (!/^[0-9a-f]{40}$/.test(sha!)) return void out.push(`${where}: ${m[1]} is not pinned to a full commit SHA`);
      const version = /#\s*(v\d+\.\d+\.\d+)\s*$/.exec(m[2]!)?.[1];
      if (!version) return void out.push(`${where}: ${action}@${sha} has no "# vX.Y.Z" comment`);
      const pin = VERIFIED_PINS[action!];
      if (!pin || pin.sha !== sha || pin.version !== version) out.push(`${where}: ${action}@${sha} # ${version} is not a verified pin`);
    });
  // The parsed documents must agree with the lines read above (a `uses` the line scan missed).
  for (const wf of workflows)
    for (const [job, j] of jobsOf(wf)) {
      const uses = [j.uses, ...stepsOf(j).map((s) => s.uses)].filter((u): u is string => typeof u === 'string');
      for (const u of uses) if (!u.startsWith('./') && !/@[0-9a-f]{40}$/.test(u)) out.push(`${wf.file} ${job}: ${u} is not pinned to a full commit SHA`);
    }
  return out;
}

/** Every job that runs on a runner has a timeout; a reusable-workflow call cannot have one (its jobs do). */
export function jobsWithoutTimeout(workflows: Workflow[]): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const [name, job] of jobsOf(wf)) {
      if (typeof job.uses === 'string') continue;
      const t = job['timeout-minutes'];
      if (typeof t !== 'number' || !(t > 0) || t > 180) out.push(`${wf.file} ${name}: timeout-minutes must be a number of minutes (1-180), got ${JSON.stringify(t)}`);
    }
  return out;
}

const localWorkflow = (workflows: Workflow[], uses: string) => workflows.find((w) => uses === `./.github/workflows/${w.file}`);

/** Whether a job gets AWS credentials itself, or calls a workflow one of whose jobs does. */
function jobNeedsIdToken(workflows: Workflow[], job: Doc): boolean {
  if (usesAws(job)) return true;
  const called = typeof job.uses === 'string' ? localWorkflow(workflows, job.uses) : undefined;
  return !!called && jobsOf(called).some(([, j]) => usesAws(j));
}

/**
 * Least privilege: `permissions` declared at workflow level, read-only there (no id-token); a job
 * has `id-token: write` exactly when it configures AWS credentials (or calls a workflow that does);
 * nothing anywhere asks for another write permission.
 */
export function permissionViolations(workflows: Workflow[]): string[] {
  const out: string[] = [];
  const writes = (p: unknown, where: string, allowIdToken: boolean) => {
    if (p === 'write-all' || p === 'read-all') return void out.push(`${where}: permissions ${p}`);
    if (p === undefined || p === null) return;
    if (typeof p !== 'object') return void out.push(`${where}: permissions must be a map, got ${JSON.stringify(p)}`);
    for (const [scope, level] of Object.entries(p as Record<string, string>)) {
      if (level !== 'write') continue;
      if (scope === 'id-token' && allowIdToken) continue;
      out.push(`${where}: ${scope}: write`);
    }
  };
  for (const wf of workflows) {
    if (wf.doc.permissions === undefined) out.push(`${wf.file}: no workflow-level permissions`);
    writes(wf.doc.permissions, `${wf.file} (workflow level)`, false);
    for (const [name, job] of jobsOf(wf)) {
      const where = `${wf.file} ${name}`;
      const needs = jobNeedsIdToken(workflows, job);
      writes(job.permissions, where, true);
      const has = job.permissions?.['id-token'] === 'write';
      if (needs && !has) out.push(`${where}: configures AWS credentials without id-token: write`);
      if (!needs && has) out.push(`${where}: id-token: write but configures no AWS credentials`);
    }
  }
  return out;
}

/**
 * Secrets come from GitHub environments (or Secrets Manager, read by the steps): a `secrets.*`
 * reference only in a job that names an environment; no `secrets: inherit`; no long-lived AWS keys.
 */
export function secretViolations(workflows: Workflow[]): string[] {
  const out: string[] = [];
  for (const wf of workflows) {
    if (/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY/.test(wf.raw)) out.push(`${wf.file}: long-lived AWS keys`);
    if (/\$\{\{\s*secrets\./.test(JSON.stringify(wf.doc.env ?? {}))) out.push(`${wf.file}: secrets in the workflow-level env`);
    for (const [name, job] of jobsOf(wf)) {
      if (job.secrets === 'inherit') out.push(`${wf.file} ${name}: secrets: inherit`);
      const text = JSON.stringify({ ...job, secrets: undefined });
      if (/\$\{\{[^}]*\bsecrets\./.test(text) && !job.environment) out.push(`${wf.file} ${name}: reads secrets.* without an environment`);
    }
  }
  return out;
}

/** No `${{ inputs.* }}` / `${{ github.event.* }}` inside a `run:` script (script injection): through env. */
export function injectableRuns(workflows: Workflow[]): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const { job, run } of runs(wf)) {
      const m = /\$\{\{\s*(inputs\.|github\.event\.|github\.head_ref|steps\.[\w-]+\.outputs\.|needs\.[\w-]+\.outputs\.)[^}]*\}\}/.exec(run);
      if (m) out.push(`${wf.file} ${job}: ${m[0]} expanded inside run: (pass it through env)`);
    }
  return out;
}

/** Node comes from package.json's engines: setup-node with node-version-file: package.json, never a literal. */
export function nodeVersionViolations(workflows: Workflow[]): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const [name, job] of jobsOf(wf))
      for (const s of stepsOf(job))
        if (typeof s.uses === 'string' && s.uses.startsWith('actions/setup-node@') && (s.with?.['node-version-file'] !== 'package.json' || s.with?.['node-version'] !== undefined))
          out.push(`${wf.file} ${name}: setup-node must take node-version-file: package.json`);
  return out;
}

/** Every literal `aws-region:` is the region the stacks declare (Pulumi.<stack>.yaml aws:region). */
export function regionViolations(workflows: Workflow[], stackRegions: string[]): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const [name, job] of jobsOf(wf))
      for (const s of stepsOf(job)) {
        const region = s.with?.['aws-region'];
        if (typeof s.uses === 'string' && s.uses.startsWith('aws-actions/configure-aws-credentials@')) {
          if (region === undefined) out.push(`${wf.file} ${name}: configure-aws-credentials without aws-region`);
          else if (!String(region).includes('${{') && !stackRegions.includes(String(region))) out.push(`${wf.file} ${name}: aws-region ${region} is not a stack's region (${stackRegions.join(', ')})`);
        }
      }
  return out;
}

/** The outputs a step program documents in its entry's header (`Outputs: a, b (…), c.`), the contract the workflows read. */
export function documentedOutputs(stepDir: string): Set<string> {
  const header = /Outputs:\s*([\s\S]*?)\.(?:\s|$)/.exec(readFileSync(join(stepDir, 'main.ts'), 'utf8'))?.[1] ?? '';
  return new Set(header.replace(/^\s*\*\s?/gm, ' ').match(/\b[a-z]+(?:_[a-z]+)*\b/g) ?? []);
}

/**
 * Every `steps.<id>.outputs.<name>` a workflow reads from a step program is an output that program
 * documents and sets (a misspelt output is an empty string in Actions, silently).
 */
export function unknownStepOutputs(workflows: Workflow[], scripts: Record<string, string>, root = ROOT): string[] {
  const out: string[] = [];
  for (const wf of workflows)
    for (const [job, j] of jobsOf(wf)) {
      const programs = new Map<string, string>();
      for (const s of stepsOf(j)) {
        const program = typeof s.run === 'string' && typeof s.id === 'string' ? stepProgramOf(s.run, scripts) : undefined;
        if (program && existsSync(join(root, 'pipelines', program, 'main.ts'))) programs.set(s.id, program);
      }
      for (const m of JSON.stringify(j).matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        const program = programs.get(m[1]!);
        if (!program) continue;
        const dir = join(root, 'pipelines', program);
        const sources = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
        // Documented in the entry's header, and set: `name: value` or the shorthand `{ name, … }`.
        const set = new RegExp(`(^|[\\s{,])['"]?${m[2]}['"]?\\s*[:,}]`, 'm').test(sources);
        if (!documentedOutputs(dir).has(m[2]!) || !set) out.push(`${wf.file} ${job}: pipelines/${program} sets no output ${m[2]} (steps.${m[1]}.outputs.${m[2]})`);
      }
    }
  return out;
}
