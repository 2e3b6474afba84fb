import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/orders.ts';
import type { OrderService } from '../service.ts';

/** The processed_events key and Kafka group: renaming either replays every retained payment event. */
export const PAYMENT_EVENTS_CONSUMER = 'order-payments';

/**
 * `payment.succeeded` pays the order and `payment.refunded` refunds a paid one, in the consumer's transaction
 * (deduplicated by processed_events).
 */
export function paymentEventsConsumer(orders: OrderService): ConsumerDefinition<Tx> {
  return {
    name: PAYMENT_EVENTS_CONSUMER,
    topics: ['payment.events'],
    handlers: {
      'payment.succeeded': async (event, tx) => {
        await orders.paymentSucceeded(tx, event.data, event.traceId);
      },
      'payment.refunded': async (event, tx) => {
        await orders.paymentRefunded(tx, event.data, event.traceId);
      },
    },
  };
}
