import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse } from 'dotenv';
import { redactString } from '../../service/shared/redact';
import type { Release } from './releases';

/**
 * Service processes as ECS runs them: `npm run serve` in the release's own worktree, configured
 * only through the environment (the release's env/local.env as the base, as a task definition's
 * defaults, then what the rehearsal's environment sets), each in its own process group so a stop
 * reaches npm and node alike.
 */

export interface ServiceProcess {
  name: string;
  release: Release;
  url: string;
  port: number;
  logFile: string;
  /** Resolves when the process group's leader exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** A free local port (the kernel's choice; the short race until the service binds it is accepted). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function startServiceProcess(options: { name: string; release: Release; env: Record<string, string>; logDir: string; port?: number }): Promise<ServiceProcess> {
  return (async () => {
    const port = options.port ?? (await freePort());
    const base = parse(readFileSync(join(options.release.dir, 'env', 'local.env')));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...base,
      ...options.env,
      PORT: String(port),
    };
    const logFile = join(options.logDir, `${options.name}.log`);
    const fd = openSync(logFile, 'a');
    const child: ChildProcess = spawn('npm', ['run', '-s', 'serve'], { cwd: options.release.dir, env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let alive = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => {
        alive = false;
        resolve({ code, signal });
      });
      child.once('error', () => {
        alive = false;
        resolve({ code: null, signal: null });
      });
    });
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // Already gone.
      }
    };
    return {
      name: options.name,
      release: options.release,
      url: `http://127.0.0.1:${port}`,
      port,
      logFile,
      exited,
      running: () => alive,
      async stop(graceMs = 15_000) {
        if (!alive) {
          signalGroup('SIGKILL');
          return;
        }
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        // npm exits with its child; anything the group still holds goes too.
        signalGroup('SIGKILL');
      },
    };
  })();
}

export type BootResult = { ok: true; ms: number } | { ok: false; ms: number; why: string };

/**
 * Waits for the process's own `/health/ready` (not through the balancer) or its exit, whichever
 * comes first; `timeoutMs` is the outer bound of a slow machine, not the expected time.
 */
export async function waitForBoot(service: ServiceProcess, timeoutMs: number): Promise<BootResult> {
  const started = Date.now();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void service.exited.then((e) => {
    exit = e;
  });
  let last = 'no answer yet';
  while (Date.now() - started < timeoutMs) {
    if (exit) return { ok: false, ms: Date.now() - started, why: `the process exited (${exit.signal ?? `code ${exit.code}`}) before it was ready: ${logTail(service.logFile)}` };
    try {
      const answer = await fetch(`${service.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      last = `${answer.status} ${(await answer.text()).slice(0, 200)}`;
      if (answer.status === 200) return { ok: true, ms: Date.now() - started };
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ok: false, ms: Date.now() - started, why: `no 200 from /health/ready within ${Math.round(timeoutMs / 1000)} s (last: ${last}): ${logTail(service.logFile)}` };
}

/** The last error-looking lines of a service log, redacted, for a report row. */
export function logTail(file: string, lines = 3): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 'no log';
  }
  const all = text.split('\n').filter((l) => l.trim() !== '');
  const errors = all.filter((l) => /error|fail|throw|exception/i.test(l));
  const picked = (errors.length > 0 ? errors : all).slice(-lines).map((l) => l.slice(0, 300));
  return redactString(picked.join(' | ') || 'empty log');
}
