import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/orders.ts';
import type { OrderService } from '../service.ts';

/** The processed_events key and Kafka group: renaming either replays every retained flash-sale event. */
export const FLASHSALE_EVENTS_CONSUMER = 'order-flashsale';

/**
 * `flashsale.purchase_granted` becomes an order. placeOrder's own transactions make it (its number comes
 * from Redis, which must not be called inside the consumer's transaction); the order's id is the purchase's,
 * so a redelivery — even one that slipped past the processed_events mark — finds the order and does nothing.
 */
export function flashsaleEventsConsumer(orders: OrderService): ConsumerDefinition<Tx> {
  return {
    name: FLASHSALE_EVENTS_CONSUMER,
    topics: ['flashsale.events'],
    handlers: {
      'flashsale.purchase_granted': async (event) => {
        await orders.placeFlashSaleOrder(event.data, event.traceId);
      },
    },
  };
}
