import { z } from 'zod';
import { Id, Money, Quantity, Timestamp } from './common.ts';

export const RejectReason = z.enum(['SOLD_OUT', 'LIMIT_EXCEEDED', 'NOT_ACTIVE', 'DUPLICATE', 'ORDER_FAILED']);

export const flashsaleEvents = {
  'flashsale.purchase_granted': {
    topic: 'flashsale.events',
    version: 1,
    data: z.object({
      purchaseId: Id,
      flashSaleId: Id,
      userId: Id,
      productId: Id,
      quantity: Quantity,
      unitPrice: Money,
      idempotencyKey: z.string().min(1),
      grantedAt: Timestamp,
      // Added for the order the grant becomes (optional: additive to version 1).
      productName: z.string().min(1).optional(),
      shippingAddress: z.record(z.string(), z.string().nullable()).optional(),
    }),
  },
  'flashsale.purchase_rejected': {
    topic: 'flashsale.events',
    version: 1,
    data: z.object({
      purchaseId: Id.optional(),
      flashSaleId: Id,
      userId: Id,
      reason: RejectReason,
      idempotencyKey: z.string().min(1),
      rejectedAt: Timestamp,
    }),
  },
  'flashsale.purchase_released': {
    // A granted unit given back (its order was cancelled or never created): to the sale while it was not yet
    // settled (SALE), else to the product's stock (STOCK: the product subgraph puts it back on the shelf).
    topic: 'flashsale.events',
    version: 1,
    data: z.object({
      purchaseId: Id,
      flashSaleId: Id,
      userId: Id,
      quantity: Quantity,
      reason: z.string(),
      // Added so the product subgraph can act on it (optional: additive to version 1; absent means SALE).
      productId: Id.optional(),
      returnedTo: z.enum(['SALE', 'STOCK']).optional(),
    }),
  },
} as const;
