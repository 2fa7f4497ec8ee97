import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken } from '../../service/security';
import { waitUntil } from '../support/wait';

const ROOT = join(__dirname, '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('npm start (the local stack)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'upiik-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  // The README promises readiness under 15 s on an idle machine (measured 3–6 s). Asserting that
  // here would turn a loaded CI runner red without any defect, so the wait is bounded generously.
  it('serves /health/live and returns a sandbox checkout URL for a dev token', async () => {
    const [port, sandboxPort] = [await freePort(), await freePort()];
    const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env;
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/start-local.ts'], {
      cwd: ROOT,
      env: {
        PATH: inherited.PATH ?? '',
        HOME: inherited.HOME ?? '',
        PORT: String(port),
        SANDBOX_PORT: String(sandboxPort),
        PGLITE_DIR: join(dataDir, 'pglite'),
        SANDBOX_STATE_FILE: join(dataDir, 'sandbox.json'),
        LOG_LEVEL: 'warn',
      },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const exitedEarly = exited.then((code) => {
        throw new Error(`npm start exited (${code}) before serving: ${output}`);
      });
      const live = waitUntil(() => fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.ok, () => false), { intervalMs: 200, what: 'GET /health/live answering 200' });
      await Promise.race([live, exitedEarly]);
      exitedEarly.catch(() => undefined);
      expect(output).toContain('npm run -s token -- --user u_123');

      // The secret the dev token helper uses: env/local.env's placeholder.
      const token = await issueToken({ secret: 'local-dev-only-jwt-secret-change-me-0123456789' }, { userId: 'u_start', email: 'start@example.com' });
      const res = await fetch(`http://127.0.0.1:${port}/api/payments/checkout-session`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ plan: 'monthly' }),
      });
      const body = (await res.json()) as { id: string; url: string };
      expect(res.status).toBe(200);
      expect(body.url.startsWith(`http://127.0.0.1:${sandboxPort}/`)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
