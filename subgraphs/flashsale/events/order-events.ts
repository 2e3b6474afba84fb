import type { ConsumerDefinition } from '@mall/platform/kit';
import type { Tx } from '../data/sales.ts';
import type { FlashSaleService } from '../service.ts';

/** The processed_events key and Kafka group: renaming either replays every retained order event. */
export const ORDER_EVENTS_CONSUMER = 'flashsale';

/**
 * order.created of a flash-sale order confirms its purchase; order.cancelled releases it and gives its unit
 * back to the sale while the sale runs. Both in the consumer's transaction with the processed_events mark; the
 * conditional status change keeps a redelivery from acting twice. Redis is told after the commit (onProcessed),
 * never inside the transaction. Orders without `flashSalePurchaseId` are checkout's: ignored.
 */
export function orderEventsConsumer(flashSales: FlashSaleService): ConsumerDefinition<Tx> {
  const afterCommit = new Map<string, Awaited<ReturnType<FlashSaleService['releaseIn']>>>();
  return {
    name: ORDER_EVENTS_CONSUMER,
    topics: ['order.events'],
    handlers: {
      'order.created': async (event, tx) => {
        const { flashSalePurchaseId, orderId } = event.data;
        if (flashSalePurchaseId) await flashSales.confirmIn(tx, flashSalePurchaseId, orderId);
      },
      'order.cancelled': async (event, tx) => {
        const { flashSalePurchaseId, orderId } = event.data;
        if (!flashSalePurchaseId) return;
        afterCommit.set(event.id, await flashSales.releaseIn(tx, flashSalePurchaseId, orderId, event.traceId));
      },
    },
    options: {
      onProcessed: (outcome) => {
        const released = outcome.event && afterCommit.get(outcome.event.id);
        if (!outcome.event || released === undefined) return;
        afterCommit.delete(outcome.event.id);
        if (released && outcome.status === 'processed') void flashSales.releaseInRedis(released);
      },
    },
  };
}
