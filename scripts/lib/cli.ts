import { parseArgs, type ParseArgsConfig } from 'node:util';
import { redactString } from '../../service/shared/redact';

/** A wrong invocation (exit 2), as opposed to a failure while doing the work (exit 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Strict flag parsing for every script: unknown flags and positionals are usage errors, reported
 * with node's own message, so each script only validates the values it received.
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export interface ScriptIo<C> {
  /** How the script reaches what it works on (tests pass their own). */
  connect?: (env: NodeJS.ProcessEnv) => Promise<C>;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
}

/**
 * The shape every operational script shares: parse (a wrong invocation is exit 2 with the usage),
 * refuse what needs confirmation (exit 2), connect, run, always close. Everything written to stderr
 * is redacted first: a failed connection or a dependency's error can quote a URL with its password.
 * `run` returns the exit code.
 */
export async function runScript<A, C extends { close(): Promise<void> }>(spec: {
  name: string;
  usage: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  io: ScriptIo<C>;
  parse(argv: string[]): A;
  /** Why these arguments may not run in this environment without confirmation, if they may not. */
  refuse?(args: A, env: NodeJS.ProcessEnv): string | undefined;
  connect(env: NodeJS.ProcessEnv): Promise<C>;
  /** False when these arguments need no connection (a file check): `run` gets none. */
  needsConnection?(args: A): boolean;
  run(args: A, connection: C, out: (s: string) => void): Promise<number>;
}): Promise<number> {
  const out = spec.io.stdout ?? ((s: string) => process.stdout.write(s));
  const writeErr = spec.io.stderr ?? ((s: string) => process.stderr.write(s));
  const err = (s: string) => writeErr(redactString(s));
  let args: A;
  try {
    args = spec.parse(spec.argv);
  } catch (error) {
    err(`${spec.name}: ${(error as Error).message}\n${spec.usage}\n`);
    return 2;
  }
  const refusal = spec.refuse?.(args, spec.env);
  if (refusal) {
    err(`${spec.name}: ${refusal}\n`);
    return 2;
  }
  let connection: C | undefined;
  try {
    if (spec.needsConnection?.(args) === false) return await spec.run(args, undefined as unknown as C, out);
    connection = await (spec.io.connect ?? spec.connect)(spec.env);
    return await spec.run(args, connection, out);
  } catch (error) {
    err(`${spec.name}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await connection?.close();
  }
}

/**
 * Asks a person at a terminal to type the environment's name before a change to it; false when
 * there is no terminal (automation passes --yes instead) or the answer differs.
 */
export async function confirmOnTty(question: string, expected: string, io: { stdin?: NodeJS.ReadStream; stderr?: NodeJS.WriteStream } = {}): Promise<boolean> {
  const stdin = io.stdin ?? process.stdin;
  if (!stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: stdin, output: io.stderr ?? process.stderr });
  try {
    return (await rl.question(`${question} Type "${expected}" to go on: `)).trim() === expected;
  } finally {
    rl.close();
  }
}

/**
 * The command-line entry of a command that changes production: at a terminal, a production run
 * without --yes asks for the environment's name first and adds --yes when it is typed right;
 * otherwise `main` refuses it (exit 2). Sets the process exit code.
 */
export function runAsEntry(main: (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>, needsConfirmation?: (argv: string[]) => string | undefined): void {
  void (async () => {
    const argv = process.argv.slice(2);
    let question: string | undefined;
    try {
      question = needsConfirmation?.(argv);
    } catch {
      // A wrong invocation: main reports it with the usage.
    }
    const confirmed = question !== undefined && (await confirmOnTty(question, 'production'));
    process.exitCode = await main(confirmed ? [...argv, '--yes'] : argv, process.env);
  })();
}
