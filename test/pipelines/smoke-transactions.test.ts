import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { fakeClock, realClock, type StepClock } from '../../pipelines/lib/clock';
import { runStepEntry } from '../../pipelines/lib/step';
import { fakeActionsCore } from '../support/actions-core';
import { smokeEntry } from '../../pipelines/smoke-transactions/main';
import { type CheckoutPayer, sandboxCheckoutPayer, testModeSubscriptionPayer } from '../../pipelines/smoke-transactions/payers';
import { type Inputs, LIVE_KEY_REFUSAL, run, type SmokeDeps } from '../../pipelines/smoke-transactions/run';
import { type OpsTarget, stripeFor } from '../../scripts/lib/ops-env';
import { issueToken } from '../../service/security';
import { WEBHOOK_PATH } from '../../service/shared/catalog';
import type { TestService } from '../support/service';
import { waitUntil } from '../support/wait';
import { startWebhookService } from '../service/webhooks/support';

/**
 * The smoke step against the local stack as CI runs it: the real sandbox (signed webhook delivery),
 * the service on a real port, PGlite or the CI Postgres/Redis. Full mode runs for real through both
 * payment paths; each failure is made the way it happens (webhook processing paused, maintenance on,
 * a webhook held back by Stripe) and must name its step and what on-call checks, and leave nothing
 * live in Stripe.
 */
jest.setTimeout(600_000);

let svc: TestService;
let stripe: Stripe;
let target: OpsTarget;
let admin: () => Promise<string>;
let users = 0;

beforeAll(async () => {
  svc = await startWebhookService();
  target = {
    env: 'local',
    serviceUrl: svc.url,
    webhookUrl: `${svc.url}${WEBHOOK_PATH}`,
    stripe: { secretKey: 'sk_test_smoke_suite', apiBase: svc.sandbox.url },
    auth: svc.config.auth,
  };
  stripe = stripeFor(target, 0);
  admin = () => svc.tokenFor({ id: 'ops:smoke-suite', admin: true });
});
afterAll(async () => {
  await svc?.close();
});

/** Waits generous on a slow machine; a failure case passes a fake clock so its timeout comes at once. */
const inputs = (over: Partial<Inputs> = {}): Inputs => ({ mode: 'full', env: 'local', timeoutSeconds: 120, pollMs: 100, ...over });

function deps(over: Partial<SmokeDeps> & { clock?: StepClock } = {}): SmokeDeps {
  const smokeUserId = over.smokeUserId ?? `smoke-local-t${++users}`;
  return {
    target,
    stripe,
    fetch,
    clock: realClock,
    smokeUserId,
    who: smokeUserId,
    tokens: {
      user: () => issueToken(target.auth, { userId: smokeUserId, internal: true, expiresIn: '15m' }),
      admin: () => issueToken(target.auth, { userId: `ops:${smokeUserId}`, admin: true, expiresIn: '5m' }),
    },
    payer: sandboxCheckoutPayer(svc.sandbox.url, fetch),
    ...over,
  };
}

const adminCall = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${svc.url}${path}`, { method, headers: { authorization: `Bearer ${await admin()}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  expect(res.status).toBe(200);
  return res.json();
};

/** The smoke customer's subscriptions that could still bill, read from Stripe (the sandbox). */
async function liveSubscriptionsOf(userId: string): Promise<Stripe.Subscription[]> {
  const link = await svc.database.db.selectFrom('stripe_customers').select('customer_id').where('user_id', '=', userId).executeTakeFirst();
  if (!link) return [];
  const all = await stripe.subscriptions.list({ customer: link.customer_id, status: 'all', limit: 100 });
  return all.data.filter((s) => s.status !== 'canceled' && s.status !== 'incomplete_expired');
}

const stepNames = (result: { outputs: Record<string, unknown> }) => (JSON.parse(String(result.outputs.steps)) as Array<{ name: string; ok: boolean; ms: number }>).map((s) => `${s.ok ? 'ok' : 'FAILED'} ${s.name}`);

describe('mode full', () => {
  test.each<[string, () => CheckoutPayer, string]>([
    ['the sandbox completing the Checkout Session (local, CI)', () => sandboxCheckoutPayer(svc.sandbox.url, fetch), 'checkout.session.completed'],
    ["the session's subscription created through the API (the Stripe test mode path)", () => testModeSubscriptionPayer(stripe), 'checkout.session.expired'],
  ])('a smoke user subscribes, pays, becomes premium, has a declined card recorded and is cancelled, paid by %s', async (_path, payer, sessionEvent) => {
    const d = deps({ payer: payer() });
    const result = await run(inputs(), d);
    expect(result.summary).toMatch(/subscribed, paid, became premium with the payment recorded, had a declined card recorded and was cancelled/);
    expect(result.ok).toBe(true);
    expect(stepNames(result)).toEqual(['ok checkout session', 'ok pay with a test card', 'ok premium via webhooks', 'ok payment recorded', 'ok declined card recorded', 'ok cancellation', 'ok cleanup']);
    expect(result.outputs).toMatchObject({ ok: true, smoke_user: d.smokeUserId });
    for (const row of result.rows) expect(row.durationMs).toEqual(expect.any(Number));

    // What the service recorded, read from its database: an internal user (dashboards leave it
    // out), a failed attempt with the decline code, the subscription cancelled.
    const db = svc.database.db;
    const user = await db.selectFrom('users').selectAll().where('id', '=', d.smokeUserId).executeTakeFirstOrThrow();
    expect(user.is_internal).toBe(true);
    const payments = await db.selectFrom('payments').selectAll().where('user_id', '=', d.smokeUserId).execute();
    expect(payments.map((p) => [p.status, p.failure_code]).sort()).toEqual([
      ['failed', 'card_declined'],
      ['succeeded', null],
    ]);
    const subs = await db.selectFrom('subscriptions').select(['status']).where('user_id', '=', d.smokeUserId).execute();
    expect(subs.map((s) => s.status)).toEqual(['canceled']);
    expect(await liveSubscriptionsOf(d.smokeUserId)).toEqual([]);
    // The declined intent is cancelled by the cleanup, so it waits for no payment method.
    const intents = await stripe.paymentIntents.list({ customer: (await db.selectFrom('stripe_customers').select('customer_id').where('user_id', '=', d.smokeUserId).executeTakeFirstOrThrow()).customer_id, limit: 10 });
    expect(intents.data.filter((pi) => pi.status.startsWith('requires_'))).toEqual([]);
    const session = await stripe.checkout.sessions.list({ limit: 5 });
    expect(session.data.some((s) => s.client_reference_id === d.smokeUserId && s.status === (sessionEvent === 'checkout.session.completed' ? 'complete' : 'expired'))).toBe(true);
  });

  test('a live key is refused before anything is created', async () => {
    const before = (await stripe.events.list({ limit: 1 })).data[0]?.id;
    const d = deps({ target: { ...target, stripe: { ...target.stripe, secretKey: 'sk_live_not_a_real_key' } } });
    const result = await run(inputs(), d);
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(LIVE_KEY_REFUSAL);
    expect(result.summary).toMatch(/Stripe forbids test cards in live mode/);
    expect((await stripe.events.list({ limit: 1 })).data[0]?.id).toBe(before);
    expect(await svc.database.db.selectFrom('users').select('id').where('id', '=', d.smokeUserId).executeTakeFirst()).toBeUndefined();
  });

  test('webhook processing paused: the premium step fails with what on-call checks, and cleanup cancels the subscription', async () => {
    await adminCall('POST', '/api/admin/payments/webhooks/pause', { reason: 'smoke failure test' });
    const d = deps({ clock: fakeClock() });
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(inputs({ timeoutSeconds: 60, pollMs: 500 }), d);
    } finally {
      await adminCall('POST', '/api/admin/payments/webhooks/resume', {});
    }
    expect(result.ok).toBe(false);
    expect(stepNames(result)).toEqual(['ok checkout session', 'ok pay with a test card', 'FAILED premium via webhooks', 'ok cleanup']);
    expect(result.summary).toBe(
      'step "premium via webhooks" failed: webhooks never made the user premium within 60 s: ' +
        "check the webhook endpoint's recent deliveries in Stripe (Developers > Webhooks) and runbooks/webhook-failure-rate.md",
    );
    expect(result.rows.find((r) => r.name === 'cleanup')?.found).toMatch(/^cancelled sub_\w+; nothing left live$/);
    expect(await liveSubscriptionsOf(d.smokeUserId)).toEqual([]);
  });

  test('maintenance on: the checkout step fails with the service\'s answer and nothing is created', async () => {
    await adminCall('POST', '/api/admin/payments/maintenance', { reason: 'smoke failure test' });
    const d = deps();
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(inputs(), d);
    } finally {
      await adminCall('DELETE', '/api/admin/payments/maintenance');
    }
    expect(result.ok).toBe(false);
    expect(stepNames(result)).toEqual(['FAILED checkout session', 'ok cleanup']);
    expect(result.summary).toMatch(/^step "checkout session" failed: the service refused the monthly checkout session: 503 maintenance: Payments are under maintenance.*: check the service logs for POST \/api\/payments\/checkout-session \(maintenance on\? GET \/api\/payments\/status/);
    expect(await liveSubscriptionsOf(d.smokeUserId)).toEqual([]);
  });

  test('the payment refused: the pay step fails naming where to look, and cleanup expires the open session', async () => {
    // A payer whose card the sandbox declines: the session stays open, as a refused card leaves it.
    const declining: CheckoutPayer = {
      path: 'the sandbox with a declining card',
      async pay(session) {
        const res = await fetch(`${svc.sandbox.url}/_sandbox/checkout_sessions/${session.id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payment_method: 'pm_card_chargeDeclined' }) });
        throw new Error(`the sandbox refused to complete ${session.id}: ${res.status}`);
      },
    };
    const d = deps({ payer: declining });
    const result = await run(inputs(), d);
    expect(result.ok).toBe(false);
    expect(stepNames(result)).toEqual(['ok checkout session', 'FAILED pay with a test card', 'ok cleanup']);
    expect(result.summary).toMatch(/^step "pay with a test card" failed: the sandbox refused to complete cs_\w+: 402: check the Stripe sandbox for customer cus_\w+$/);
    const session = (await stripe.checkout.sessions.list({ limit: 10 })).data.find((s) => s.client_reference_id === d.smokeUserId)!;
    expect(session.status).toBe('expired');
    expect(await liveSubscriptionsOf(d.smokeUserId)).toEqual([]);
  });

  /** Each case: the event Stripe holds back, the step that must fail, its message, and when the steps before it are done. */
  const db = () => svc.database.db;
  test.each<[string, string, RegExp, (userId: string) => Promise<boolean>]>([
    [
      // Premium comes from the subscription's events; the payment only from the invoice's.
      'invoice.payment_succeeded',
      'payment recorded',
      /^step "payment recorded" failed: the first payment of sub_\w+ was never recorded by the service as succeeded within 60 s: the user is premium but the ledger has no payment: check the webhook endpoint's recent deliveries .*invoice\.payment_succeeded/,
      async (userId) => (await db().selectFrom('users').select('is_premium').where('id', '=', userId).executeTakeFirst())?.is_premium === true,
    ],
    [
      'payment_intent.payment_failed',
      'declined card recorded',
      /^step "declined card recorded" failed: the declined payment pi_\w+ was never recorded as a failed attempt by the service within 60 s: check the webhook endpoint's recent deliveries .*payment_intent\.payment_failed/,
      async (userId) => (await db().selectFrom('users').select('is_premium').where('id', '=', userId).executeTakeFirst())?.is_premium === true,
    ],
    [
      'customer.subscription.deleted',
      'cancellation',
      /^step "cancellation" failed: cancelling sub_\w+ in Stripe never made the user free again within 60 s: check the webhook endpoint's recent deliveries .*customer\.subscription\.deleted/,
      async (userId) => (await db().selectFrom('payments').select('id').where('user_id', '=', userId).where('status', '=', 'failed').executeTakeFirst()) !== undefined,
    ],
  ])('Stripe holding back %s fails the "%s" step, and nothing is left live', async (type, step, message, before) => {
    svc.sandbox.control.setFaults({ hold: { types: [type] } });
    // The steps before the held event wait on real time (webhooks take what they take); once they
    // are done, the clock turns fake and the held step's 60 s pass at once.
    const fake = fakeClock();
    let earlierStepsDone = false;
    const clock: StepClock = { now: fake.now, sleep: async (ms) => (earlierStepsDone ? fake.sleep(ms) : realClock.sleep(ms)) };
    const d = deps({ clock });
    let result: Awaited<ReturnType<typeof run>>;
    try {
      const watcher = waitUntil(() => before(d.smokeUserId), { what: `the steps before "${step}"` }).then(() => (earlierStepsDone = true));
      result = await run(inputs({ timeoutSeconds: 60, pollMs: 500 }), d);
      await watcher;
    } finally {
      svc.sandbox.control.clearFaults();
    }
    expect(result.ok).toBe(false);
    const names = stepNames(result);
    expect(names.slice(-2)).toEqual([`FAILED ${step}`, 'ok cleanup']);
    expect(result.summary).toMatch(message);
    expect(await liveSubscriptionsOf(d.smokeUserId)).toEqual([]);
  });
});

describe('mode readonly', () => {
  test('passes on a healthy stack and creates no charge, payment intent or subscription', async () => {
    await svc.sandbox.control.waitForDeliveries(120_000);
    const count = async () => ({
      lastEvent: (await stripe.events.list({ limit: 1 })).data[0]?.id,
      intents: (await stripe.paymentIntents.list({ limit: 100 })).data.length,
      subscriptions: (await stripe.subscriptions.list({ status: 'all', limit: 100 })).data.length,
    });
    const before = await count();
    const result = await run(inputs({ mode: 'readonly' }), deps());
    expect(result.summary).toBe('read-only smoke passed: 6 checks, no charge created');
    expect(stepNames(result)).toEqual([
      'ok service ready',
      'ok webhook GET answers 405',
      'ok webhook unsigned POST answers 400',
      'ok stripe:validate',
      'ok not in maintenance',
      'ok recent events acknowledged',
    ]);
    expect(result.rows.find((r) => r.name === 'recent events acknowledged')?.found).toMatch(/^\d+\+? events in the last hour, all acknowledged$/);
    expect(result.outputs.smoke_user).toBe('');
    // No event means no object was created or changed: no charge, intent, subscription or customer.
    expect(await count()).toEqual(before);
  });

  test('no recent events is a pass that says so', async () => {
    const later = fakeClock(Date.now() + 3 * 3600_000);
    const result = await run(inputs({ mode: 'readonly' }), deps({ clock: later }));
    expect(result.ok).toBe(true);
    expect(result.rows.find((r) => r.name === 'recent events acknowledged')?.found).toBe("no events of the service's types in the last hour: nothing to acknowledge");
  });

});

describe('the entry', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'upiik-smoke-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));


  /** The local target as `npm start` would describe this stack (no env/local.env: the test's own values). */
  const localEnv = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PORT: new URL(svc.url).port,
    SANDBOX_PORT: new URL(svc.sandbox.url).port,
    STRIPE_SECRET_KEY: 'sk_test_smoke_entry',
    AUTH_JWT_SECRET: svc.config.auth.secret,
    ...over,
  });
  const runEntry = async (inputValues: Record<string, string>, env: NodeJS.ProcessEnv = localEnv()) => {
    const { core, calls } = fakeActionsCore(inputValues);
    let printed = '';
    const code = await runStepEntry(smokeEntry({ env, opsEnv: { localEnvFile: join(dir, 'none.env') } }), { core, env: env.GITHUB_ACTIONS ? { GITHUB_ACTIONS: env.GITHUB_ACTIONS } : {}, out: (s) => (printed += s) });
    return { code, calls, printed };
  };

  test.each<[string, Record<string, string>, string]>([
    ['no mode', { env: 'local' }, 'wrong inputs: input mode must be one of full, readonly (got "")'],
    ['an unknown mode', { mode: 'all', env: 'local' }, 'wrong inputs: input mode must be one of full, readonly (got "all")'],
    ['no env', { mode: 'readonly' }, 'wrong inputs: input env must be one of local, staging, production (got "")'],
    ['mode full on production', { mode: 'full', env: 'production' }, 'wrong inputs: mode full cannot run on production: its Stripe key is live and Stripe forbids test cards in live mode; use mode readonly there'],
    ['a zero timeout', { mode: 'readonly', env: 'local', timeout_seconds: '0' }, 'wrong inputs: input timeout_seconds must be a number >= 1 <= 3600 (got "0")'],
    ['a poll interval that is not a number', { mode: 'readonly', env: 'local', poll_ms: 'fast' }, 'wrong inputs: input poll_ms must be a number >= 10 <= 60000 (got "fast")'],
    ['a service_url that is not a URL', { mode: 'readonly', env: 'local', service_url: 'staging.upiik' }, 'wrong inputs: input service_url must be an http(s) URL (got "staging.upiik")'],
  ])('%s exits 2 before anything runs', async (_what, inputValues, message) => {
    const { code, calls } = await runEntry(inputValues);
    expect(code).toBe(2);
    expect(calls.failed).toEqual([message]);
    expect(calls.outputs).toEqual({});
  });

  test('mode full on the local stack as in GitHub Actions: exit 0, the outputs for later jobs, secrets masked and never printed', async () => {
    const { code, calls, printed } = await runEntry({ mode: 'full', env: 'local', timeout_seconds: '120', poll_ms: '100' }, localEnv({ GITHUB_ACTIONS: 'true', GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '2' }));
    expect(calls.failed).toEqual([]);
    expect(code).toBe(0);
    expect(calls.outputs.ok).toBe(true);
    expect(calls.outputs.smoke_user).toBe('smoke-local-4242-2');
    const steps = JSON.parse(String(calls.outputs.steps)) as Array<{ name: string; ok: boolean; ms: number }>;
    expect(steps.map((s) => s.name)).toEqual(['checkout session', 'pay with a test card', 'premium via webhooks', 'payment recorded', 'declined card recorded', 'cancellation', 'cleanup']);
    expect(steps.every((s) => s.ok && Number.isInteger(s.ms) && s.ms >= 0)).toBe(true);
    expect(calls.secrets).toEqual(expect.arrayContaining(['sk_test_smoke_entry', svc.config.auth.secret]));
    expect(printed).toContain('smoke-transactions full (local)');
    expect(printed).not.toContain(svc.config.auth.secret);
    expect(printed).not.toContain('sk_test_smoke_entry');
    expect(await liveSubscriptionsOf('smoke-local-4242-2')).toEqual([]);
  });

  test('mode readonly through service_url: exit 0, no smoke user', async () => {
    // The full runs before it may still have deliveries in flight or awaiting a retry on a slow machine.
    await svc.sandbox.control.waitForDeliveries(120_000);
    const { code, calls } = await runEntry({ mode: 'readonly', env: 'local', service_url: `${svc.url}/` });
    expect(calls.failed).toEqual([]);
    expect(code).toBe(0);
    expect(calls.outputs).toMatchObject({ ok: true, smoke_user: '' });
  });

  test('a live key on the local target is refused before any request (exit 1: it is found while resolving the target)', async () => {
    const { code, calls } = await runEntry({ mode: 'full', env: 'local' }, localEnv({ STRIPE_SECRET_KEY: 'sk_live_not_a_real_key' }));
    expect(code).toBe(1);
    expect(calls.failed).toEqual(['smoke-transactions full (local): --env local talks to the Stripe sandbox: a live key is refused']);
  });
});

// Last in the file: the event it leaves unacknowledged for good (the endpoint failing every attempt)
// stays among the last hour's events, which every read-only run before it must find acknowledged.
describe('mode readonly, failing', () => {
  test('maintenance on and an event the endpoint never acknowledged fail their checks, each naming what to do', async () => {
    await svc.sandbox.control.waitForDeliveries(120_000);
    svc.sandbox.control.setFaults({ failEndpoint: { id: svc.webhookEndpointId, attempts: 'always' } });
    await stripe.setupIntents.create({ payment_method: 'pm_card_visa', confirm: true, allowed_payment_method_types: ['card'] });
    await adminCall('POST', '/api/admin/payments/maintenance', { reason: 'readonly failure test' });
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run(inputs({ mode: 'readonly', timeoutSeconds: 60, pollMs: 500 }), deps({ clock: fakeClock(Date.now()) }));
    } finally {
      await adminCall('DELETE', '/api/admin/payments/maintenance');
      svc.sandbox.control.clearFaults();
    }
    expect(result.ok).toBe(false);
    expect(stepNames(result)).toEqual([
      'ok service ready',
      'ok webhook GET answers 405',
      'ok webhook unsigned POST answers 400',
      'FAILED stripe:validate',
      'FAILED not in maintenance',
      'FAILED recent events acknowledged',
    ]);
    const row = (name: string) => result.rows.find((r) => r.name === name)!;
    expect(row('stripe:validate').found).toMatch(/^1 of 14 checks failed: maintenance \(on: readonly failure test\)$/);
    expect(row('not in maintenance')).toMatchObject({ found: 'payments are under maintenance: readonly failure test', fix: expect.stringContaining('npm run restore') });
    expect(row('recent events acknowledged').found).toMatch(/^1 of \d+\+? events from the last hour still not acknowledged by every endpoint after 60 s \(evt_\w+ setup_intent\.succeeded\)$/);
    expect(row('recent events acknowledged').fix).toMatch(/runbooks\/webhook-failure-rate\.md.*npm run replay-events/);
    expect(result.summary).toMatch(/^step "stripe:validate" failed: .* \(and 2 more failed check\(s\), see the table\)$/);
  });
});
