import { decodeId } from '@mall/platform';
import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/products.ts';
import type { InventoryService } from '../inventory.ts';

/** The processed_events key and Kafka group: renaming either replays every retained flash-sale event. */
export const FLASHSALE_EVENTS_CONSUMER = 'product-flashsale';

/**
 * flashsale.purchase_released with returnedTo STOCK: a flash-sale order cancelled after its sale was settled
 * gives its units back to the shelf, in the consumer's transaction with the processed_events mark (so a
 * redelivery changes nothing). Units released while the
 * sale ran (SALE, or no returnedTo from an older producer) went back to the sale: nothing to do here.
 */
export function flashsaleEventsConsumer(inventory: InventoryService): ConsumerDefinition<Tx> {
  return {
    name: FLASHSALE_EVENTS_CONSUMER,
    topics: ['flashsale.events'],
    handlers: {
      'flashsale.purchase_released': async (event, tx) => {
        const { returnedTo, productId, quantity } = event.data;
        if (returnedTo !== 'STOCK') return;
        const product = productId === undefined ? null : decodeId(productId);
        if (product === null) throw new Error(`purchase ${event.data.purchaseId} released to stock names no product`);
        const line = { productId: product, quantity };
        await inventory.returnFlashSaleUnits(tx, line, event.traceId);
      },
    },
  };
}
