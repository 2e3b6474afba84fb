import type { EventEnvelope } from '@mall/events';
import { decodeId } from '@mall/platform';
import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/products.ts';
import type { ReservationLine } from '../domain/stock.ts';
import type { InventoryService } from '../inventory.ts';

/** The processed_events key and Kafka group: renaming either replays every retained order event. */
export const ORDER_EVENTS_CONSUMER = 'product';

/**
 * order.paid commits the order's reservation, order.cancelled releases it: in the consumer's transaction, so
 * the effect and the processed_events mark commit together and a redelivery changes nothing; the conditional
 * HELD → … transition makes the two events idempotent against each other too, in whichever order they come.
 * The product cache is invalidated once the transaction has committed (onProcessed), never before: a read
 * between an early invalidation and the commit would cache the old stock again.
 */
export function orderEventsConsumer(inventory: InventoryService): ConsumerDefinition<Tx> {
  // Lines a handler changed, by event id, until its transaction's outcome is final.
  const toInvalidate = new Map<string, readonly ReservationLine[]>();
  const settle = async (
    settlement: 'commit' | 'release',
    event: EventEnvelope<'order.paid' | 'order.cancelled'>,
    tx: Tx,
  ): Promise<void> => {
    const orderId = decodeId(event.data.orderId);
    // Not one of our snowflakes: no reservation can exist for it.
    if (orderId === null) return;
    toInvalidate.set(event.id, await inventory.settleInTransaction(tx, settlement, orderId, event.traceId));
  };
  return {
    name: ORDER_EVENTS_CONSUMER,
    topics: ['order.events'],
    handlers: {
      'order.paid': (event, tx) => settle('commit', event, tx),
      'order.cancelled': (event, tx) => settle('release', event, tx),
    },
    options: {
      onProcessed: (outcome) => {
        const lines = outcome.event && toInvalidate.get(outcome.event.id);
        if (!outcome.event || !lines) return;
        toInvalidate.delete(outcome.event.id);
        if (outcome.status === 'processed') void inventory.invalidateLines(lines);
      },
    },
  };
}
