import { printReport, type ReportRow } from '../../scripts/lib/report';
import { redactString } from '../../service/shared/redact';

/**
 * The release pipeline's step programs share one shape (after the actions/typescript-action
 * template): `run()` takes typed inputs and its clients and returns a StepResult; a small entry
 * reads the inputs the Actions way (`@actions/core` getInput, so `INPUT_<NAME>` works in a
 * workflow, on a laptop, under @github/local-action and in the rehearsal), sets the outputs,
 * prints the report (a job summary table and `::error` annotations in GitHub Actions) and fails
 * the step with a sentence that says what to do. Nothing below the entry reads `process.env`.
 */
export interface StepResult {
  ok: boolean;
  /** One sentence: what happened and, when not ok, what the on-call engineer does next. */
  summary: string;
  /** What the step did and found, one row per check or action, with timings. */
  rows: ReportRow[];
  /** For later jobs (`steps.<id>.outputs.<name>`) and the release summary. */
  outputs: Record<string, string | number | boolean>;
}

/** The part of @actions/core an entry uses (ESM-only: loaded by the entry, passed in, faked in tests). */
export interface ActionsCore {
  getInput(name: string, options?: { required?: boolean; trimWhitespace?: boolean }): string;
  setOutput(name: string, value: unknown): void;
  setFailed(message: string): void;
  setSecret(secret: string): void;
  info(message: string): void;
}

/** A missing or malformed input: the workflow is wrong, not the release (exit 2). */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Typed readers over getInput; each names the input and what it accepts when it refuses one. */
export function inputReader(core: Pick<ActionsCore, 'getInput'>) {
  const raw = (name: string): string => core.getInput(name, { trimWhitespace: true });
  return {
    string(name: string, fallback?: string): string {
      const value = raw(name) || fallback;
      if (value === undefined || value === '') throw new InputError(`input ${name} is required`);
      return value;
    },
    optional(name: string): string | undefined {
      return raw(name) || undefined;
    },
    number(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
      const text = raw(name);
      const value = text === '' ? fallback : Number(text);
      if (!Number.isFinite(value) || (bounds.min !== undefined && value < bounds.min) || (bounds.max !== undefined && value > bounds.max))
        throw new InputError(`input ${name} must be a number${bounds.min !== undefined ? ` >= ${bounds.min}` : ''}${bounds.max !== undefined ? ` <= ${bounds.max}` : ''} (got ${JSON.stringify(text)})`);
      return value;
    },
    choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
      const value = raw(name) || fallback;
      if (value === undefined || !(choices as readonly string[]).includes(value)) throw new InputError(`input ${name} must be one of ${choices.join(', ')} (got ${JSON.stringify(raw(name))})`);
      return value as T;
    },
    boolean(name: string, fallback: boolean): boolean {
      const text = raw(name).toLowerCase();
      if (text === '') return fallback;
      if (text === 'true' || text === 'yes') return true;
      if (text === 'false' || text === 'no') return false;
      throw new InputError(`input ${name} must be true or false (got ${JSON.stringify(text)})`);
    },
    list(name: string): string[] {
      return raw(name).split(/[\s,]+/).filter(Boolean);
    },
  };
}
export type InputReader = ReturnType<typeof inputReader>;

export interface StepEntry<I> {
  /** The report's title, e.g. "wait-deployment (production)". */
  title(inputs: I): string;
  /** Reads and checks the inputs; throws InputError (or any error) for a wrong one. */
  inputs(read: InputReader, core: ActionsCore): I;
  /** Builds the step's clients from the inputs and runs it. */
  run(inputs: I, core: ActionsCore): Promise<StepResult>;
}

export interface EntryIo {
  core?: ActionsCore;
  env?: NodeJS.ProcessEnv;
  out?: (s: string) => void;
}

/**
 * Runs a step entry: 0 when the step passed, 1 when it failed (a gate said no, or a dependency
 * failed: the message says which), 2 for wrong inputs. Every message is redacted.
 */
export async function runStepEntry<I>(entry: StepEntry<I>, io: EntryIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const actionsCore = io.core ?? ((await import('@actions/core')) as ActionsCore);
  // `::add-mask::<value>` is a command to the Actions runner, which hides it; anywhere else (a
  // laptop, the rehearsal, a CI log) @actions/core would print the secret itself.
  const core: ActionsCore = env.GITHUB_ACTIONS === 'true' ? actionsCore : { ...actionsCore, setSecret: () => undefined };
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  let inputs: I;
  try {
    inputs = entry.inputs(inputReader(core), core);
  } catch (error) {
    core.setFailed(redactString(`wrong inputs: ${(error as Error).message}`));
    return 2;
  }
  const title = entry.title(inputs);
  let result: StepResult;
  try {
    result = await entry.run(inputs, core);
  } catch (error) {
    // An input found wrong only once the target is resolved (a live key for a test-mode smoke) is
    // still a wrong invocation, not a failed release.
    core.setFailed(redactString(`${error instanceof InputError ? 'wrong inputs: ' : ''}${title}: ${(error as Error).message}`));
    return error instanceof InputError ? 2 : 1;
  }
  for (const [name, value] of Object.entries(result.outputs)) core.setOutput(name, value);
  await printReport(result.rows, { title, json: env.STEP_REPORT === 'json', out, env, extra: { summary: result.summary, outputs: result.outputs } });
  if (!result.ok) {
    core.setFailed(redactString(`${title}: ${result.summary}`));
    return 1;
  }
  core.info(redactString(`${title}: ${result.summary}`));
  return 0;
}

/** `node --import tsx pipelines/<step>/main.ts`: runs the entry and sets the exit code. */
export function runAsStep<I>(entry: StepEntry<I>): void {
  void runStepEntry(entry).then((code) => {
    process.exitCode = code;
  });
}
