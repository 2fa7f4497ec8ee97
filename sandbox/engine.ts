import { SandboxClock } from './clock';
import { SandboxState } from './state';
import { EventEmitter } from './events/emit';
import { DeliveryQueue } from './events/delivery';

/**
 * The parts every resource handler and billing step works with. Built once per sandbox; `reset`
 * swaps the state for an empty one and keeps the wiring.
 */
export class Engine {
  readonly clock = new SandboxClock();
  readonly events: EventEmitter;
  readonly delivery: DeliveryQueue;
  /** Public base URL, for hosted page links; set once the server listens. */
  baseUrl = '';
  /**
   * How long (sandbox seconds) a new object stays out of search results, as Stripe's search index
   * lags writes (under a minute normally, longer during incidents). 0 (the default): searchable at once.
   */
  searchIndexLagSeconds = 0;
  /** Milliseconds every `/v1/` request waits before it is answered, as a slow Stripe would; 0 (default): none. */
  apiLatencyMs = 0;

  constructor(
    public state: SandboxState,
    deliveryOptions: ConstructorParameters<typeof DeliveryQueue>[1],
    readonly log: (line: string) => void,
  ) {
    this.clock.offset = state.clockOffset;
    this.delivery = new DeliveryQueue(() => this.state.webhookEndpoints, deliveryOptions);
    this.events = new EventEmitter(() => this.state.events, this.clock, (batch) => this.delivery.enqueue(batch));
  }

  reset(): void {
    this.events.flush();
    this.delivery.reset();
    this.state = new SandboxState();
    this.clock.offset = 0;
    this.searchIndexLagSeconds = 0;
    this.apiLatencyMs = 0;
  }

  now(): number {
    return this.clock.now();
  }
}
