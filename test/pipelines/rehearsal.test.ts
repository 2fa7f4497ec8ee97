import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { main } from '../../pipelines/rehearsal/main';
import type { RehearsalReport } from '../../pipelines/rehearsal/run';

/**
 * The release rehearsal end to end, in the reduced form `npm test` can afford: the healthy
 * candidate, and one fault for each kind of gate (a boot failure in staging, a payment effect only
 * the smoke transaction notices, a checkout failing under canary traffic). Real service processes
 * (`npm run serve` in release worktrees of HEAD), the real PostgreSQL and Redis, the Stripe sandbox
 * in this process. `npm run rehearse -- --all` is the full catalogue.
 *
 * Needs the real servers (several processes share one database and one Redis): skipped without
 * DATABASE_URL / REDIS_URL, like the other real-server suites; CI sets both.
 */
const suite = process.env.DATABASE_URL && process.env.REDIS_URL ? describe : describe.skip;

async function rehearse(...args: string[]): Promise<{ code: number; report: RehearsalReport; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--stable', 'HEAD', '--candidate', 'HEAD', '--bake-seconds', '30', '--users', '20', '--json', ...args], {
    out: (s) => (out += s),
    err: (s) => (err += s),
    env: process.env,
  });
  if (out.trim() === '') throw new Error(`rehearse ${args.join(' ')} printed no report (exit ${code}): ${err.slice(-2000)}`);
  return { code, report: JSON.parse(out) as RehearsalReport, err };
}

const gate = (report: RehearsalReport, name: string) => report.gates.find((g) => g.gate === name);

suite('npm run rehearse (reduced: healthy and three faults)', () => {
  jest.setTimeout(900_000);

  it('promotes the healthy candidate through every gate with nothing lost', async () => {
    const { code, report, err } = await rehearse();
    expect({ code, verdict: report.verdict, gates: report.gates.map((g) => `${g.gate}:${g.result}`) }).toEqual({
      code: 0,
      verdict: 'healthy candidate promoted through every gate, 0 events lost',
      gates: ['validation:pass', 'staging-deploy:pass', 'staging-smoke:pass', 'production-deploy:pass', 'canary-analysis:pass', 'production-smoke:pass', 'proof:pass'],
    });
    expect(report).toMatchObject({ caught: false, caughtAt: null, rolledBack: false, eventsLost: 0, run: { fault: null } });
    const proof = gate(report, 'proof')!.figures as {
      eventsEmitted: number;
      checked: { subscriptions: number; invoices: number };
      population: { checkouts: { paid: number }; requests: number; clockDays: number };
    };
    // The population did enough for the proof to mean something, renewals included: every
    // subscription has its first paid invoice, so more paid invoices than subscriptions are renewals.
    expect(proof.eventsEmitted).toBeGreaterThan(20);
    expect(proof.population.checkouts.paid).toBeGreaterThan(3);
    expect(proof.population.clockDays).toBeGreaterThan(30);
    expect(proof.checked.invoices).toBeGreaterThan(proof.checked.subscriptions);
    expect(gate(report, 'canary-analysis')!.figures).toMatchObject({
      verdict: expect.stringMatching(/^(pass|inconclusive)$/),
      // The ledger's own health, as each version answers it: never critical for a healthy release.
      paymentHealth: { candidate: expect.stringMatching(/^(healthy|degraded)$/), stable: expect.stringMatching(/^(healthy|degraded)$/) },
    });
    expect(err).toContain('canary-analysis pass');
  });

  it('crash-on-boot: caught when staging starts the candidate, production never touched', async () => {
    const { code, report } = await rehearse('--fault', 'crash-on-boot');
    expect({ code, caughtAt: report.caughtAt, rolledBack: report.rolledBack, eventsLost: report.eventsLost, verdict: report.verdict }).toEqual({
      code: 0, caughtAt: 'staging-deploy', rolledBack: true, eventsLost: 0, verdict: expect.stringContaining('caught at staging-deploy as expected'),
    });
    expect(gate(report, 'staging-deploy')!.summary).toMatch(/exited/);
    expect(gate(report, 'production-deploy')).toBeUndefined();
    expect(report.rollbackSeconds).toBeLessThanOrEqual(60);
  });

  it('lost-payment-effect: only the staging smoke transaction notices, and names the payment', async () => {
    const { code, report } = await rehearse('--fault', 'lost-payment-effect');
    expect({ code, caughtAt: report.caughtAt, rolledBack: report.rolledBack, eventsLost: report.eventsLost }).toEqual({ code: 0, caughtAt: 'staging-smoke', rolledBack: true, eventsLost: 0 });
    expect(gate(report, 'staging-deploy')!.result).toBe('pass');
    expect(gate(report, 'staging-smoke')!.summary).toMatch(/payment/i);
  });

  it('checkout-5xx: passes staging, caught by the canary analysis on the 5xx rate and rolled back within 60 s', async () => {
    const { code, report } = await rehearse('--fault', 'checkout-5xx');
    expect({ code, caughtAt: report.caughtAt, rolledBack: report.rolledBack, eventsLost: report.eventsLost }).toEqual({ code: 0, caughtAt: 'canary-analysis', rolledBack: true, eventsLost: 0 });
    expect(gate(report, 'staging-smoke')!.result).toBe('pass');
    expect(gate(report, 'canary-analysis')!.summary).toMatch(/^fail on 5xx_rate/);
    expect(gate(report, 'app-rollback')!.figures).toMatchObject({ weights: { stable: 100, candidate: 0 } });
    expect(report.rollbackSeconds).toBeLessThanOrEqual(60);
  });

  it('Ctrl-C in the middle of the canary stops every process it started and drops its databases', async () => {
    const repo = join(__dirname, '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/rehearsal/main.ts', '--stable', 'HEAD', '--candidate', 'HEAD', '--bake-seconds', '120', '--users', '5'], {
      cwd: repo, env: process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 300_000;
    while (!output.includes('canary-analysis ...') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    expect(output).toContain('canary-analysis ...');
    // Two service processes (stable and candidate) run from release worktrees now.
    expect(rehearsalProcesses().length).toBeGreaterThanOrEqual(2);
    // A terminal's Ctrl-C reaches the whole foreground process group.
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(output).toContain('SIGINT: stopping the rehearsal');
    expect(rehearsalProcesses()).toEqual([]);
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      expect((await client.query("select datname from pg_database where datname like 'rehearsal\\_%'")).rows).toEqual([]);
    } finally {
      await client.end();
    }
  });
});

/** Processes whose working directory is a rehearsal release worktree (the services it started). */
function rehearsalProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`).includes('/.rehearsal/releases/')) found.push(pid);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}
