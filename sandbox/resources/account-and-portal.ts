import type Stripe from 'stripe';
import { newId } from '../ids';
import { resourceMissing } from '../http/errors';
import { checkUrlParam, parseParams } from '../http/params';
import type { Router } from '../http/router';
import { liveCustomer } from './customers';

/** One fixed test-mode account; `Partial` because most Connect fields have no meaning offline. */
const ACCOUNT_ID = 'acct_1SandboxUpiik0001';

export function registerAccountAndPortal(router: Router): void {
  router.get('/v1/account', ({ params, engine }) => {
    parseParams(params, {});
    const account: Partial<Stripe.Account> = {
      id: ACCOUNT_ID,
      object: 'account',
      business_profile: null,
      business_type: 'company',
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      country: 'US',
      default_currency: 'usd',
      email: 'sandbox@upiik.invalid',
      created: engine.now() - 86_400 * 365,
      metadata: {},
      type: 'standard',
      settings: {
        branding: { icon: null, logo: null, primary_color: null, secondary_color: null },
        card_payments: { statement_descriptor_prefix: 'UPIIK', statement_descriptor_prefix_kana: null, statement_descriptor_prefix_kanji: null },
        dashboard: { display_name: 'Upiik Sandbox', timezone: 'Etc/UTC' },
        payments: { statement_descriptor: 'UPIIK SANDBOX', statement_descriptor_kana: null, statement_descriptor_kanji: null, statement_descriptor_prefix_kana: null, statement_descriptor_prefix_kanji: null },
      },
    };
    return account;
  });

  // The test clock the sandbox runs on, when it was started in the past (`clockStart`): its
  // frozen_time is the sandbox clock, which is what objects on it are dated by.
  router.get('/v1/test_helpers/test_clocks/:id', ({ params, engine, path }) => {
    parseParams(params, {});
    const id = path.id as string;
    const clock = engine.state.testClock;
    if (!clock || clock.id !== id) throw resourceMissing('test_helpers.test_clock', id);
    const testClock: Stripe.TestHelpers.TestClock = {
      id: clock.id,
      object: 'test_helpers.test_clock',
      created: clock.created,
      deletes_after: engine.now() + 30 * 86_400,
      frozen_time: engine.now(),
      livemode: false,
      name: 'sandbox',
      status: 'ready',
      status_details: {},
    };
    return testClock;
  });

  router.post('/v1/billing_portal/sessions', ({ engine, params }) => {
    const p = parseParams<Stripe.BillingPortal.SessionCreateParams>(
      params,
      { customer: 'string', return_url: 'string', configuration: 'string', locale: 'string', on_behalf_of: 'string', flow_data: { object: { type: 'string' } } },
      ['customer'],
    );
    liveCustomer(engine, p.customer as string);
    checkUrlParam(p.return_url, 'return_url');
    const id = newId('bps');
    const session: Stripe.BillingPortal.Session = {
      id,
      object: 'billing_portal.session',
      configuration: p.configuration ?? 'bpc_sandboxdefault',
      created: engine.now(),
      customer: p.customer as string,
      customer_account: null,
      flow: null,
      livemode: false,
      locale: (p.locale ?? null) as Stripe.BillingPortal.Session.Locale | null,
      on_behalf_of: p.on_behalf_of ?? null,
      return_url: p.return_url ?? null,
      url: `${engine.baseUrl}/billing_portal/${id}`,
    };
    engine.state.portalSessions.set(id, session);
    return session;
  });

}
