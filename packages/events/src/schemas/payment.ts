import { z } from 'zod';
import { Id, Money, Timestamp } from './common.ts';

export const paymentEvents = {
  'payment.succeeded': {
    topic: 'payment.events',
    version: 1,
    data: z.object({
      paymentId: Id,
      orderId: Id,
      amount: Money,
      provider: z.string().min(1),
      providerRef: z.string().min(1),
      succeededAt: Timestamp,
    }),
  },
  'payment.failed': {
    topic: 'payment.events',
    version: 1,
    data: z.object({
      paymentId: Id,
      orderId: Id,
      amount: Money,
      provider: z.string().min(1),
      reason: z.string(),
      failedAt: Timestamp,
    }),
  },
  'payment.refunded': {
    topic: 'payment.events',
    version: 1,
    data: z.object({
      paymentId: Id,
      orderId: Id,
      refundId: Id,
      amount: Money,
      reason: z.string().optional(),
      // ORDER: the payment had paid its order, which is refunded with it (PAID → REFUNDED). UNAPPLIED: a success
      // that never paid its order (it came after the cancellation, or after another payment), returned on its
      // own; the order is left as it is. Absent means ORDER.
      kind: z.enum(['ORDER', 'UNAPPLIED']).optional(),
      refundedAt: Timestamp,
    }),
  },
} as const;
