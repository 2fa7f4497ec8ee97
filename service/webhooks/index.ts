export { webhookHandlers, WEBHOOK_BODY_LIMIT } from './router';
export { processEvent, type ProcessResult, type WebhookDeps } from './processor';
export {
  WEBHOOKS_PAUSED_KEY,
  drainPendingEvents,
  drainsSettled,
  requestDrain,
  startDrainSweep,
  isWebhookProcessingPaused,
  haltDrains,
  pauseWebhookProcessing,
  readWebhookPause,
  resumeWebhookProcessing,
  type DrainSummary,
  type PauseState,
} from './pause';
export { DRAIN_LANES } from './pressure';
export { findEvent, type InboxStatus } from './inbox';
export { createIntake, type Intake, type IntakeResult } from './intake';
export { eventLane, inLanes } from './lanes';
export { HANDLED_EVENT_TYPES, applySubscriptionSnapshot, invoiceObservation, isHandled } from './handlers';
export { recordPayment, recordFailedAttempt, type PaymentObservation } from './effects/payments';
export { refreshPremium, writeSubscription } from './effects/subscriptions';
export { ensureUserLinked, resolveUser, type ResolvedUser } from './users';
export { SIGNATURE_TOLERANCE_SECONDS, verifyStripeEvent, verifyStripeSignature } from './signature';
export { EVENT_OBJECT_SCHEMAS, parseStripeEvent } from './event-schema';
