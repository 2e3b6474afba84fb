import { z } from 'zod';
import { Id, Money, Quantity, StockLine, Timestamp } from './common.ts';

const OrderItem = z.object({ productId: Id, quantity: Quantity, unitPrice: Money, lineTotal: Money });

export const CancelReason = z.enum(['USER_CANCELLED', 'PAYMENT_TIMEOUT', 'ADMIN_CANCELLED', 'OUT_OF_STOCK']);

export const orderEvents = {
  'order.created': {
    topic: 'order.events',
    version: 1,
    data: z.object({
      orderId: Id,
      orderNumber: z.string().min(1),
      userId: Id,
      items: z.array(OrderItem).min(1),
      total: Money,
      reservationId: Id.optional(),
      flashSalePurchaseId: Id.optional(),
      expiresAt: Timestamp,
    }),
  },
  'order.paid': {
    topic: 'order.events',
    version: 1,
    data: z.object({
      orderId: Id,
      userId: Id,
      paymentId: Id,
      amount: Money,
      reservationId: Id.optional(),
      paidAt: Timestamp,
    }),
  },
  'order.cancelled': {
    topic: 'order.events',
    version: 1,
    data: z.object({
      orderId: Id,
      userId: Id,
      reason: CancelReason,
      reservationId: Id.optional(),
      flashSalePurchaseId: Id.optional(),
      cancelledAt: Timestamp,
    }),
  },
  'order.shipped': {
    topic: 'order.events',
    version: 1,
    data: z.object({
      orderId: Id,
      userId: Id,
      carrier: z.string().optional(),
      trackingNumber: z.string().optional(),
      shippedAt: Timestamp,
    }),
  },
  'order.completed': {
    topic: 'order.events',
    version: 1,
    data: z.object({ orderId: Id, userId: Id, completedAt: Timestamp }),
  },
  'order.refunded': {
    topic: 'order.events',
    version: 1,
    data: z.object({
      orderId: Id,
      userId: Id,
      paymentId: Id,
      amount: Money,
      // What to return to stock: the product subgraph puts these units back (the order had committed them).
      items: z.array(StockLine).optional(),
      refundedAt: Timestamp,
    }),
  },
} as const;
