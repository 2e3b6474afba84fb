import { createEvent, type EventEnvelope } from '@mall/events';
import type { Address, FlashSale, Purchase } from '../domain/sale.ts';

// The flashsale.events envelopes this subgraph writes to its outbox, in the transaction of the change they
// describe. Keyed by purchase id: one purchase's events stay in order on one partition.

export function purchaseGranted(
  sale: FlashSale,
  purchase: Purchase,
  grant: { idempotencyKey: string; shippingAddress: Address | null; at: Date },
  traceId: string,
): EventEnvelope<'flashsale.purchase_granted'> {
  return createEvent('flashsale.purchase_granted', {
    aggregateId: String(purchase.id),
    traceId,
    data: {
      purchaseId: String(purchase.id),
      flashSaleId: String(sale.id),
      userId: String(purchase.userId),
      productId: String(sale.productId),
      productName: sale.productName,
      quantity: purchase.quantity,
      unitPrice: sale.price,
      idempotencyKey: grant.idempotencyKey,
      ...(grant.shippingAddress ? { shippingAddress: grant.shippingAddress } : {}),
      grantedAt: grant.at.toISOString(),
    },
  });
}

/**
 * A purchase's units went back: to the sale (`SALE`, its sold count) or, the sale being settled already, to
 * the product's stock (`STOCK`), which the product subgraph does on this event, once.
 */
export function purchaseReleased(
  purchase: Purchase,
  release: { reason: string; productId: bigint; returnedTo: 'SALE' | 'STOCK' },
  traceId: string,
) {
  return createEvent('flashsale.purchase_released', {
    aggregateId: String(purchase.id),
    traceId,
    data: {
      purchaseId: String(purchase.id),
      flashSaleId: String(purchase.flashSaleId),
      userId: String(purchase.userId),
      quantity: purchase.quantity,
      reason: release.reason,
      productId: String(release.productId),
      returnedTo: release.returnedTo,
    },
  });
}
