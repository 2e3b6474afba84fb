import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/payments.ts';
import type { PaymentService } from '../service.ts';

/** The processed_events key and Kafka group: renaming either replays every retained order event. */
export const ORDER_EVENTS_CONSUMER = 'payment-orders';

/** `order.cancelled`: a success for the order (now or later) is refunded, in the consumer's transaction. */
export function orderEventsConsumer(payments: PaymentService): ConsumerDefinition<Tx> {
  return {
    name: ORDER_EVENTS_CONSUMER,
    topics: ['order.events'],
    handlers: {
      'order.cancelled': async (event, tx) => {
        await payments.orderCancelled(tx, event.data.orderId, new Date(event.data.cancelledAt));
      },
    },
  };
}
