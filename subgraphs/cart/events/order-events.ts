import { decodeId } from '@mall/platform';
import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/carts.ts';
import type { CartService } from '../service.ts';

/** The processed_events key and Kafka group: renaming either replays every retained order event. */
export const ORDER_EVENTS_CONSUMER = 'cart';

/**
 * order.created takes the ordered quantities off the buyer's cart, in the consumer's transaction (deduplicated
 * by processed_events), so a line added or increased after checkout read the cart stays. A flash-sale order did
 * not come from the cart and leaves it alone.
 */
export function orderEventsConsumer(carts: CartService): ConsumerDefinition<Tx> {
  return {
    name: ORDER_EVENTS_CONSUMER,
    topics: ['order.events'],
    handlers: {
      'order.created': async (event, tx) => {
        if (event.data.flashSalePurchaseId) return;
        const userId = decodeId(event.data.userId);
        // Not one of our snowflakes: no cart can exist for it.
        if (userId === null) return;
        const items = event.data.items.flatMap((item) => {
          const productId = decodeId(item.productId);
          return productId === null ? [] : [{ productId, quantity: item.quantity }];
        });
        await carts.orderCreated(tx, userId, items);
      },
    },
  };
}
