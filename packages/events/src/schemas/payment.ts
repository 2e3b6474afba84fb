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
      refundedAt: Timestamp,
    }),
  },
} as const;
