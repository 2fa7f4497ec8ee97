import { validateStripe } from '../../scripts/stripe-validate';
import { WEBHOOK_EVENTS, WEBHOOK_PATH } from '../../service/shared/catalog';
import type { StepResult } from '../lib/step';
import type { Inputs, SmokeDeps } from './contract';
import { answerText, ServiceClient } from './service-client';
import { pollUntil, seconds, SmokeFailure, StepFailed, StepLog } from './steps';

/** "Recent" for the acknowledgement check: the events an hour of production traffic produced. */
export const RECENT_EVENTS_SECONDS = 3600;

const WEBHOOKS_CHECK = "check the webhook endpoint's recent deliveries in Stripe (Developers > Webhooks) and runbooks/webhook-failure-rate.md";

/**
 * Production's smoke: reads and refused requests only. Every check runs (they are independent), so
 * one run shows everything that is wrong; the summary names the first failed one. Nothing here
 * creates a Stripe object: the only write is stripe:validate's unsigned POST, which the service
 * refuses with 400 and never stores.
 */
export async function runReadonly(inputs: Inputs, deps: SmokeDeps): Promise<StepResult> {
  const log = new StepLog(deps.clock);
  const service = new ServiceClient(deps.target.serviceUrl, deps.fetch, deps.tokens);
  const failures: StepFailed[] = [];
  const check = async (name: string, fix: string, body: () => Promise<string>) => {
    await log.run(name, fix, async () => ({ found: await body(), value: undefined })).catch((error: unknown) => {
      if (!(error instanceof StepFailed)) throw error;
      failures.push(error);
    });
  };

  await check('service ready', 'see runbooks/database-unavailable.md (the answer names the dependency that failed) and the ECS service events', async () => {
    const answer = await service.request('GET', '/health/ready');
    if (answer.status !== 200) throw new SmokeFailure(`/health/ready answered ${answerText(answer)}`, 'see runbooks/database-unavailable.md (the answer names the dependency that failed) and the ECS service events');
    return '/health/ready 200';
  });

  await check('webhook GET answers 405', 'the webhook route must reach the payments service: check the ALB listener rules and the path', async () => {
    const answer = await service.request('GET', WEBHOOK_PATH);
    const allow = answer.headers.get('allow') ?? '';
    if (answer.status !== 405 || !/\bPOST\b/.test(allow)) {
      throw new SmokeFailure(`GET ${WEBHOOK_PATH} answered ${answer.status}${allow ? ` (Allow: ${allow})` : ''}, expected 405 with Allow: POST`, 'the webhook route must reach the payments service: check the ALB listener rules and the path');
    }
    return `405, Allow: ${allow}`;
  });

  await check('webhook unsigned POST answers 400', 'an unsigned event must be refused: if accepted, signature verification is off (roll back); if 5xx, see the service logs', async () => {
    const answer = await service.request('POST', WEBHOOK_PATH, { rawBody: '{}' });
    if (answer.status !== 400) {
      throw new SmokeFailure(`an unsigned POST ${WEBHOOK_PATH} answered ${answerText(answer)}, expected 400`, 'an unsigned event must be refused: if accepted, signature verification is off (roll back); if 5xx, see the service logs');
    }
    return '400 (signature required)';
  });

  await check('stripe:validate', 'run `npm run stripe:validate -- --env <env>` for the full table; each failed row names its fix', async () => {
    const rows = await validateStripe(deps.target, { stripe: deps.stripe, fetch: deps.fetch }, deps.who);
    const bad = rows.filter((r) => !r.ok);
    if (bad.length > 0) {
      throw new SmokeFailure(
        `${bad.length} of ${rows.length} checks failed: ${bad.map((r) => `${r.name} (${r.found})`).join('; ')}`,
        bad.map((r) => `${r.name}: ${r.fix ?? 'see stripe:validate'}`).join('; '),
      );
    }
    return `all ${rows.length} checks ok`;
  });

  await check('not in maintenance', 'finish the rollback (`npm run restore`) or switch maintenance off: DELETE /api/admin/payments/maintenance', async () => {
    const answer = await service.request<{ maintenance?: boolean; unknown?: boolean; reason?: string }>('GET', '/api/payments/status');
    if (answer.status !== 200) throw new Error(`GET /api/payments/status answered ${answerText(answer)}`);
    if (answer.body.unknown) throw new SmokeFailure('the service cannot read the maintenance flag (Redis unreachable?): checkout is refused', 'check the service logs and GET /health/ready, which names the store when it cannot answer');
    if (answer.body.maintenance) throw new SmokeFailure(`payments are under maintenance${answer.body.reason ? `: ${answer.body.reason}` : ''}`, 'finish the rollback (`npm run restore`) or switch maintenance off: DELETE /api/admin/payments/maintenance');
    return 'maintenance off';
  });

  await check('recent events acknowledged', WEBHOOKS_CHECK, () => recentEventsAcknowledged(inputs, deps));

  const ok = failures.length === 0;
  return {
    ok,
    summary: ok ? `read-only smoke passed: ${log.rows.length} checks, no charge created` : `${failures[0]!.sentence()}${failures.length > 1 ? ` (and ${failures.length - 1} more failed check(s), see the table)` : ''}`,
    rows: log.rows,
    outputs: { ok, steps: JSON.stringify(log.records()), smoke_user: '' },
  };
}

/**
 * Stripe's `pending_webhooks` of the last hour's events of the service's types reaches 0 within the
 * timeout: `delivery_success=false` lists those still owed to an endpoint (pending, retrying, or
 * given up). The count is per account, so an event owed to another endpoint of the account keeps
 * it above 0 too; the message lists the ids so on-call can look them up.
 */
async function recentEventsAcknowledged(inputs: Inputs, deps: SmokeDeps): Promise<string> {
  const since = Math.floor(deps.clock.now() / 1000) - RECENT_EVENTS_SECONDS;
  const filter = { created: { gte: since }, types: [...WEBHOOK_EVENTS], limit: 100 };
  const recent = await deps.stripe.events.list(filter);
  if (recent.data.length === 0) return "no events of the service's types in the last hour: nothing to acknowledge";
  const total = `${recent.data.length}${recent.has_more ? '+' : ''}`;
  const wait = { clock: deps.clock, timeoutMs: inputs.timeoutSeconds * 1000, pollMs: inputs.pollMs };
  let owed: Array<{ id: string; type: string; pending_webhooks: number }> = [];
  const settled = await pollUntil(wait, async () => {
    owed = (await deps.stripe.events.list({ ...filter, delivery_success: false })).data;
    return owed.length === 0 ? true : undefined;
  });
  if (!settled.value) {
    const named = owed.slice(0, 5).map((e) => `${e.id} ${e.type}`).join(', ');
    throw new SmokeFailure(
      `${owed.length} of ${total} events from the last hour still not acknowledged by every endpoint after ${seconds(wait.timeoutMs)}${named ? ` (${named}${owed.length > 5 ? ', ...' : ''})` : ''}${settled.lastError ? ` (last poll: ${settled.lastError})` : ''}`,
      `${WEBHOOKS_CHECK}; events Stripe gave up on are replayed with \`npm run replay-events\``,
    );
  }
  return `${total} events in the last hour, all acknowledged`;
}
