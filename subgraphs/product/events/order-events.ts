import type { EventEnvelope } from '@mall/events';
import { decodeId } from '@mall/platform';
import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/products.ts';
import type { InventoryService } from '../inventory.ts';

/** The processed_events key and Kafka group: renaming either replays every retained order event. */
export const ORDER_EVENTS_CONSUMER = 'product';

/**
 * order.paid commits the order's reservation, order.cancelled releases it, order.refunded returns a committed
 * one to the shelf: in the consumer's transaction, so the effect and the processed_events mark commit together
 * and a redelivery changes nothing; the conditional HELD → … and COMMITTED → RETURNED transitions make the
 * events idempotent against each other too. The product cache holds no stock, so nothing is invalidated.
 */
export function orderEventsConsumer(inventory: InventoryService): ConsumerDefinition<Tx> {
  const apply = async (
    event: EventEnvelope<'order.paid' | 'order.cancelled' | 'order.refunded'>,
    change: (orderId: bigint) => Promise<void>,
  ): Promise<void> => {
    const orderId = decodeId(event.data.orderId);
    // Not one of our snowflakes: no reservation can exist for it.
    if (orderId === null) return;
    await change(orderId);
  };
  return {
    name: ORDER_EVENTS_CONSUMER,
    topics: ['order.events'],
    handlers: {
      'order.paid': (event, tx) =>
        apply(event, (orderId) => inventory.settleInTransaction(tx, 'commit', orderId, event.traceId)),
      'order.cancelled': (event, tx) =>
        apply(event, (orderId) => inventory.settleInTransaction(tx, 'release', orderId, event.traceId)),
      'order.refunded': (event, tx) =>
        apply(event, (orderId) => inventory.returnInTransaction(tx, orderId, event.traceId)),
    },
  };
}
