import { type RunningSandbox, startSandbox } from '../../../sandbox';
import { startTestService, type TestService } from '../../support/service';
import { createTestDatabase, type TestDatabase } from '../../support/database';
import { createTestStore } from '../../support/store';
import { startStripeHop } from '../../support/stripe-hop';
import type { Store } from '../../../service/shared/store';

/**
 * One Stripe customer per user. Stripe's idempotency key only collapses identical requests; when
 * two first checkouts of one user differ (a token refreshed with a `city` claim between two tabs,
 * two instances after the key's window) only the per-user lock keeps them from both creating a
 * customer. A proxy between the services and the sandbox holds customer creations until a second
 * one arrives (or 3 s pass), so without the lock the requests overlap for certain.
 */

jest.setTimeout(300_000);

interface CustomerGate {
  url: string;
  /** POST /v1/customers requests that reached the sandbox. */
  creations: number;
  close(): Promise<void>;
}

/** Holds customer creations until a second one arrives (or `holdMs` pass), then lets them all through. */
async function startCustomerGate(target: string, holdMs = 3_000): Promise<CustomerGate> {
  const hop = await startStripeHop(target);
  let release: (() => void) | undefined;
  let held: Promise<void> | undefined;
  let waiting = 0;
  let timer: NodeJS.Timeout | undefined;
  const releaseAll = (): void => {
    clearTimeout(timer);
    timer = undefined;
    waiting = 0;
    held = undefined;
    release?.();
  };
  hop.decide = (req) => {
    if (req.method !== 'POST' || req.path !== '/v1/customers') return { action: 'forward' };
    gate.creations++;
    held ??= new Promise<void>((resolve) => {
      release = resolve;
    });
    const decision = { action: 'hold' as const, release: held };
    waiting++;
    if (waiting >= 2) releaseAll();
    else timer ??= setTimeout(releaseAll, holdMs);
    return decision;
  };
  const gate: CustomerGate = {
    url: hop.url,
    creations: 0,
    close: async () => {
      releaseAll();
      await hop.close();
    },
  };
  return gate;
}

let sandbox: RunningSandbox;
let database: TestDatabase;
let store: Store;
let gate: CustomerGate;
let a: TestService;
let b: TestService;

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0 });
  database = await createTestDatabase();
  store = await createTestStore();
  gate = await startCustomerGate(sandbox.url);
  // Two instances of the service on one database and store, as behind the load balancer.
  a = await startTestService({ sandbox, database, store, serviceStripeApiBase: gate.url });
  b = await startTestService({ sandbox, database, store, serviceStripeApiBase: gate.url });
});
afterAll(async () => {
  await a.close();
  await b.close();
  await gate.close();
  await sandbox.close();
  await store.close();
  await database.close();
});

async function checkout(svc: TestService, token: string): Promise<{ status: number; body: { id?: string; error?: { code: string } } }> {
  const res = await fetch(`${svc.url}/api/payments/checkout-session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ plan: 'monthly' }),
  });
  return { status: res.status, body: (await res.json()) as { id?: string } };
}

/** Every Stripe customer that says it belongs to the user, whatever its email. */
async function customersOf(svc: TestService, userId: string) {
  return (await svc.stripe.customers.list({ limit: 100 })).data.filter((c) => c.metadata.userId === userId);
}

test.each([
  ['with an email claim', 'u_concurrent', 'concurrent@example.com'],
  // No email: the orphan lookup (by email) cannot find the first customer; only the lock's re-check can.
  ['without an email claim', 'u_concurrent_noemail', undefined],
])('concurrent first checkouts of one user (%s) on two instances, with differing token claims, create exactly one Stripe customer', async (_label, userId, email) => {
  const tokens = await Promise.all([
    a.tokenFor({ id: userId, email }),
    a.tokenFor({ id: userId, email, city: 'Lyon' }),
    b.tokenFor({ id: userId, email, city: 'Nantes' }),
    b.tokenFor({ id: userId, email, city: 'Lille' }),
  ]);
  const before = gate.creations;
  const results = await Promise.all(tokens.map((t, i) => checkout(i % 2 === 0 ? a : b, t)));

  expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  expect(gate.creations - before).toBe(1);
  const customers = await customersOf(a, userId);
  expect(customers.map((c) => c.id)).toHaveLength(1);
  const links = await database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', userId).execute();
  expect(links.map((l) => l.customer_id)).toEqual([customers[0]!.id]);
  const sessions = await Promise.all(results.map((r) => a.stripe.checkout.sessions.retrieve(r.body.id!)));
  expect(new Set(sessions.map((s) => s.customer))).toEqual(new Set([customers[0]!.id]));
});

test("another user's Stripe customer with the same email is never taken: the user gets a customer of their own", async () => {
  const email = 'family@example.com';
  const theirs = await a.stripe.customers.create({ email, metadata: { userId: 'u_family_parent' } });
  const res = await checkout(a, await a.tokenFor({ id: 'u_family_child', email }));
  expect(res.status).toBe(200);

  const link = await database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_family_child').executeTakeFirstOrThrow();
  expect(link.customer_id).not.toBe(theirs.id);
  const mine = await a.stripe.customers.retrieve(link.customer_id);
  expect(mine.deleted).not.toBe(true);
  expect(!mine.deleted && mine.metadata.userId).toBe('u_family_child');
  const session = await a.stripe.checkout.sessions.retrieve(res.body.id!);
  expect(session.customer).toBe(link.customer_id);
  expect(await database.db.selectFrom('stripe_customers').selectAll().where('customer_id', '=', theirs.id).execute()).toEqual([]);
});

test("the user's own orphan customer (created in Stripe, never linked here) is linked instead of creating a second one", async () => {
  const email = 'orphan@example.com';
  // Created with other parameters than the service uses, so no idempotency replay could hide a second creation.
  const orphan = await a.stripe.customers.create({ email, name: 'Created before a failed database write', metadata: { userId: 'u_orphan' } });
  const before = gate.creations;
  const res = await checkout(a, await a.tokenFor({ id: 'u_orphan', email }));
  expect(res.status).toBe(200);
  expect(gate.creations - before).toBe(0);
  const link = await database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_orphan').executeTakeFirstOrThrow();
  expect(link.customer_id).toBe(orphan.id);
  expect((await customersOf(a, 'u_orphan')).map((c) => c.id)).toEqual([orphan.id]);
});

test("a user without an email whose orphan customer exists in Stripe gets it back (found by metadata.userId), not a second customer", async () => {
  // Created with other parameters than the service uses: no idempotency replay can hide a second creation
  // (on Stripe the key expires after 24 h, which is when this orphan would otherwise be duplicated).
  const orphan = await a.stripe.customers.create({ name: 'No email, never linked', metadata: { userId: 'u_orphan_noemail' } });
  await a.stripe.customers.create({ name: 'Someone else', metadata: { userId: 'u_orphan_noemail_other' } });
  const before = gate.creations;
  const res = await checkout(a, await a.tokenFor({ id: 'u_orphan_noemail' }));
  expect(res.status).toBe(200);
  expect(gate.creations - before).toBe(0);
  const link = await database.db.selectFrom('stripe_customers').selectAll().where('user_id', '=', 'u_orphan_noemail').executeTakeFirstOrThrow();
  expect(link.customer_id).toBe(orphan.id);
});
