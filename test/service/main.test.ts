import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { BASE_TEST_ENV } from '../support/config';
import { waitForOutput } from '../support/wait';

const ROOT = join(__dirname, '..', '..');

/**
 * The service's entry point as ECS runs it (`node <main>`, signals straight to the process, config
 * only from the environment), with tsx as a loader rather than the tsx CLI: the CLI relays SIGTERM
 * to its child and, when the signal lands in the first moments after start, kills the child
 * instead of letting its handler run, which is tsx's race, not the service's.
 */
function serve(env: Record<string, string>): ChildProcessWithoutNullStreams {
  const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env;
  return spawn(process.execPath, ['--import', 'tsx', 'service/main.ts'], { cwd: ROOT, env: { PATH: inherited.PATH ?? '', HOME: inherited.HOME ?? '', ...env } });
}

function collect(child: ChildProcessWithoutNullStreams) {
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { out, exited };
}

describe('npm run serve', () => {
  it('exits non-zero before listening when NODE_ENV=production has a test key, naming STRIPE_SECRET_KEY', async () => {
    const child = serve({ ...BASE_TEST_ENV, NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_test_wrong_mode' });
    const { out, exited } = collect(child);
    expect(await exited).toBe(1);
    expect(out.stderr).toContain('STRIPE_SECRET_KEY: NODE_ENV=production requires a live secret key');
    expect(out.stderr).not.toContain('sk_test_wrong_mode');
    expect(out.stdout).not.toContain('listening');
  });

  it('finishes an in-flight request after SIGTERM, then exits 0', async () => {
    const child = serve({ ...BASE_TEST_ENV, PORT: '0', LOG_LEVEL: 'info' });
    const { out, exited } = collect(child);
    const listening = await waitForOutput(child.stdout, /"message":"listening".*?"port":(\d+)|"port":(\d+).*?"message":"listening"/, { what: 'the listening line' });
    const port = Number(listening[1] ?? listening[2]);

    // A request whose body is still arriving when SIGTERM lands is in flight. `Expect: 100-continue`
    // makes the server say when it has the headers (the request is active); only then SIGTERM, and
    // the body follows once the service has logged that it is shutting down.
    const body = JSON.stringify({ plan: 'monthly' });
    const response = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/payments/checkout-session',
          headers: { 'content-type': 'application/json', 'content-length': body.length, expect: '100-continue' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', (err) => reject(new Error(`${err.message}; service output: ${out.stdout.slice(-1500)} ${out.stderr.slice(-500)}`)));
      req.on('continue', () => {
        const shuttingDown = waitForOutput(child.stdout, /"message":"shutting down"/, { what: 'the shutting down line' });
        child.kill('SIGTERM');
        shuttingDown.then(() => req.end(body), reject);
      });
      req.flushHeaders();
    });
    expect(await response).toBe(401); // answered (no token), not dropped
    expect(await exited).toBe(0);
    expect(out.stdout).toContain('stopped cleanly');
  });
});
