import type Stripe from 'stripe';
import { PREMIUM_PRICES } from '../../service/shared/catalog';
import type { StepResult } from '../lib/step';
import { type Inputs, isLiveKey, LIVE_KEY_REFUSAL, type SmokeDeps } from './contract';
import { cleanUp, type SmokeLeftovers } from './cleanup';
import { answerText, ServiceClient } from './service-client';
import { pollUntil, seconds, SmokeFailure, StepFailed, StepLog } from './steps';

/** A card that attaches to the customer, then declines every charge (on Stripe and in the sandbox). */
export const DECLINING_CARD = 'pm_card_chargeCustomerFail';

/**
 * The admin API allows 60 requests a minute per admin (ADMIN_RATE_LIMIT_MAX, keyed by the token's
 * `ops:<smoke user>`): its polls are spaced to stay well under that whatever poll_ms says.
 */
export const ADMIN_POLL_MS = 2000;

const WEBHOOKS_CHECK = "check the webhook endpoint's recent deliveries in Stripe (Developers > Webhooks) and runbooks/webhook-failure-rate.md";

/**
 * The full round trip, one step after another; the first failure stops the sequence and names
 * itself. Cleanup runs in `finally` and is reported as its own row: a failed run leaves nothing
 * live in Stripe that could bill the smoke customer again.
 */
export async function runFull(inputs: Inputs, deps: SmokeDeps): Promise<StepResult> {
  const log = new StepLog(deps.clock);
  const userId = deps.smokeUserId;
  if (isLiveKey(deps.target.stripe.secretKey)) {
    log.rows.push({ name: 'test key', ok: false, found: 'the Stripe key is live', fix: 'run mode readonly here; mode full runs on test keys only', durationMs: 0 });
    return { ok: false, summary: LIVE_KEY_REFUSAL, rows: log.rows, outputs: { ok: false, steps: JSON.stringify(log.records()), smoke_user: '' } };
  }
  const service = new ServiceClient(deps.target.serviceUrl, deps.fetch, deps.tokens);
  const wait = { clock: deps.clock, timeoutMs: inputs.timeoutSeconds * 1000, pollMs: inputs.pollMs };
  const left: SmokeLeftovers = { intents: [] };
  let failure: StepFailed | undefined;
  try {
    const session = await log.run('checkout session', 'check the service logs for this request and GET /api/payments/status', async () => {
      const answer = await service.request<{ id?: string; url?: string }>('POST', '/api/payments/checkout-session', { as: 'user', json: { plan: 'monthly' } });
      if (answer.status !== 200 || !answer.body?.id) {
        const maintenance = answer.status === 503 ? ' (maintenance on? GET /api/payments/status; a rollback turns it on, `npm run restore` turns it off)' : '';
        throw new SmokeFailure(`the service refused the monthly checkout session: ${answerText(answer)}`, `check the service logs for POST /api/payments/checkout-session${maintenance}`);
      }
      left.sessionId = answer.body.id;
      const created = await deps.stripe.checkout.sessions.retrieve(answer.body.id);
      left.customerId = typeof created.customer === 'string' ? created.customer : (created.customer?.id ?? undefined);
      if (created.mode !== 'subscription' || !left.customerId) throw new SmokeFailure(`checkout session ${created.id} is not a subscription session for a customer (mode ${created.mode})`, 'check service/checkout/checkout-service.ts in this release');
      const admin = await service.adminUser(userId);
      if (admin.status !== 200 || admin.body.local.user?.is_internal !== true) {
        throw new SmokeFailure(
          `the service did not record ${userId} as internal (${admin.status === 200 ? 'is_internal false' : answerText(admin)}): dashboards would count the smoke payments`,
          'check that the token carries `internal: true` and the admin API (GET /api/admin/payments/users/:id) answers',
        );
      }
      return { found: `${created.id} for ${left.customerId}, user internal`, value: created };
    });

    const paid = await log.run('pay with a test card', `check the Stripe ${deps.target.stripe.apiBase ? 'sandbox' : 'Dashboard (test mode)'} for customer ${left.customerId}`, async () => {
      const result = await deps.payer.pay(session, userId);
      left.subscriptionIds = [result.subscriptionId];
      return { found: `${result.found} [${deps.payer.path}]`, value: result };
    });

    await log.run('premium via webhooks', WEBHOOKS_CHECK, async () => {
      const seen = await pollUntil(wait, async () => {
        const answer = await service.subscription();
        if (answer.status !== 200) throw new Error(`GET /api/payments/subscription answered ${answerText(answer)}`);
        return answer.body.premium && answer.body.subscription?.id === paid.subscriptionId ? answer.body : undefined;
      });
      if (!seen.value) throw new SmokeFailure(`webhooks never made the user premium within ${seconds(wait.timeoutMs)}${lastPoll(seen)}`, WEBHOOKS_CHECK);
      return { found: `premium, ${seen.value.subscription?.status} ${seen.value.subscription?.plan}`, value: undefined };
    });

    // Premium alone is not the payment: a release can grant it and still lose the ledger's row.
    await log.run('payment recorded', `${WEBHOOKS_CHECK} (invoice.payment_succeeded), and the admin API GET /api/admin/payments/users/${userId}`, async () => {
      const price = PREMIUM_PRICES.monthly;
      const seen = await pollUntil({ ...wait, pollMs: Math.max(wait.pollMs, ADMIN_POLL_MS) }, async () => {
        const answer = await service.adminUser(userId);
        if (answer.status !== 200) throw new Error(`GET /api/admin/payments/users/${userId} answered ${answerText(answer)}`);
        return answer.body.local.payments.find((p) => p.subscription_id === paid.subscriptionId && p.status === 'succeeded');
      });
      if (!seen.value) {
        throw new SmokeFailure(
          `the first payment of ${paid.subscriptionId} was never recorded by the service as succeeded within ${seconds(wait.timeoutMs)}${lastPoll(seen)}: the user is premium but the ledger has no payment`,
          `${WEBHOOKS_CHECK} (invoice.payment_succeeded), and the admin API GET /api/admin/payments/users/${userId}`,
        );
      }
      const { amount, currency, invoice_id: invoice } = seen.value;
      if (Number(amount) !== price.unitAmount || currency.toLowerCase() !== price.currency.toLowerCase()) {
        throw new SmokeFailure(
          `the payment of ${paid.subscriptionId} was recorded as ${amount} ${currency}, not the monthly price's ${price.unitAmount} ${price.currency}`,
          'check the invoice in Stripe and the webhook handler of invoice.payment_succeeded in this release',
        );
      }
      return { found: `${invoice ?? 'payment'} succeeded, ${amount} ${currency}`, value: undefined };
    });

    await log.run('declined card recorded', WEBHOOKS_CHECK, async () => {
      const intentId = await chargeDecliningCard(deps.stripe, left.customerId!, userId);
      left.intents.push(intentId);
      const seen = await pollUntil({ ...wait, pollMs: Math.max(wait.pollMs, ADMIN_POLL_MS) }, async () => {
        const answer = await service.adminUser(userId);
        if (answer.status !== 200) throw new Error(`GET /api/admin/payments/users/${userId} answered ${answerText(answer)}`);
        return answer.body.local.payments.find((p) => p.payment_intent_id === intentId && p.status === 'failed' && p.failed_attempts >= 1);
      });
      if (!seen.value) {
        throw new SmokeFailure(
          `the declined payment ${intentId} was never recorded as a failed attempt by the service within ${seconds(wait.timeoutMs)}${lastPoll(seen)}`,
          `${WEBHOOKS_CHECK} (payment_intent.payment_failed), and the admin API GET /api/admin/payments/users/${userId}`,
        );
      }
      return { found: `${intentId} declined (${seen.value.failure_code ?? 'no code'}), recorded as a failed attempt`, value: undefined };
    });

    await log.run('cancellation', WEBHOOKS_CHECK, async () => {
      await deps.stripe.subscriptions.cancel(paid.subscriptionId);
      const seen = await pollUntil(wait, async () => {
        const answer = await service.subscription();
        if (answer.status !== 200) throw new Error(`GET /api/payments/subscription answered ${answerText(answer)}`);
        return answer.body.premium ? undefined : answer.body;
      });
      if (!seen.value) throw new SmokeFailure(`cancelling ${paid.subscriptionId} in Stripe never made the user free again within ${seconds(wait.timeoutMs)}${lastPoll(seen)}`, `${WEBHOOKS_CHECK} (customer.subscription.deleted)`);
      return { found: `${paid.subscriptionId} cancelled, user free (${seen.value.subscription?.status ?? 'no subscription'})`, value: undefined };
    });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    failure = error;
  } finally {
    await log.run('cleanup', `cancel what is left for the smoke customer in the Stripe ${deps.target.stripe.apiBase ? 'sandbox' : 'Dashboard (test mode)'}`, async () => ({ found: await cleanUp(deps, service, left), value: undefined })).catch((error: unknown) => {
      if (!(error instanceof StepFailed)) throw error;
      failure ??= error;
    });
  }
  const ok = failure === undefined;
  return {
    ok,
    summary: ok ? `${userId} subscribed, paid, became premium with the payment recorded, had a declined card recorded and was cancelled; nothing left live in Stripe` : failure!.sentence(),
    rows: log.rows,
    outputs: { ok, steps: JSON.stringify(log.records()), smoke_user: userId },
  };
}

/**
 * Charges the declining card once, off-session, for the monthly amount: Stripe answers with a card
 * error and emits `payment_intent.payment_failed` for the customer, which the service must record.
 * Returns the payment intent's id. A charge that goes through is a failure of the smoke itself.
 */
async function chargeDecliningCard(stripe: Stripe, customer: string, userId: string): Promise<string> {
  const card = await stripe.paymentMethods.attach(DECLINING_CARD, { customer });
  const price = PREMIUM_PRICES.monthly;
  try {
    const intent = await stripe.paymentIntents.create({
      amount: price.unitAmount,
      currency: price.currency,
      customer,
      payment_method: card.id,
      allowed_payment_method_types: ['card'],
      confirm: true,
      off_session: true,
      description: 'Upiik smoke test: a declined card',
      metadata: { userId, smoke: 'declined-card' },
    });
    throw new SmokeFailure(`the declining test card ${DECLINING_CARD} was charged (${intent.id} ${intent.status})`, 'check that the target is in test mode and the card is a declining test card');
  } catch (error) {
    if (error instanceof SmokeFailure) throw error;
    const e = error as { type?: string; code?: string; payment_intent?: { id?: string }; raw?: { payment_intent?: { id?: string } } };
    const intentId = e.payment_intent?.id ?? e.raw?.payment_intent?.id;
    if (e.type !== 'StripeCardError' || !intentId) throw error;
    return intentId;
  }
}

const lastPoll = (seen: { lastError?: string }): string => (seen.lastError ? ` (last poll: ${seen.lastError})` : '');
