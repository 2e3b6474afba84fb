import { createEvent, type EventEnvelope } from '@mall/events';
import type { Payment, Refund } from '../domain/payment.ts';

// The payment.events envelopes this subgraph writes to its outbox, always in the transaction of the change they
// describe. Keyed by the order id, so one order's payment events stay in order on one partition.

const base = (payment: Payment, traceId: string) => ({ aggregateId: String(payment.orderId), traceId });

export function paymentSucceeded(payment: Payment, at: Date, traceId: string): EventEnvelope<'payment.succeeded'> {
  return createEvent('payment.succeeded', {
    ...base(payment, traceId),
    data: {
      paymentId: String(payment.id),
      orderId: String(payment.orderId),
      amount: payment.amount,
      provider: payment.provider,
      providerRef: payment.providerReference,
      succeededAt: at.toISOString(),
    },
  });
}

export function paymentFailed(
  payment: Payment,
  reason: string,
  at: Date,
  traceId: string,
): EventEnvelope<'payment.failed'> {
  return createEvent('payment.failed', {
    ...base(payment, traceId),
    data: {
      paymentId: String(payment.id),
      orderId: String(payment.orderId),
      amount: payment.amount,
      provider: payment.provider,
      reason,
      failedAt: at.toISOString(),
    },
  });
}

export function paymentRefunded(
  payment: Payment,
  refund: Refund,
  at: Date,
  traceId: string,
): EventEnvelope<'payment.refunded'> {
  return createEvent('payment.refunded', {
    ...base(payment, traceId),
    data: {
      paymentId: String(payment.id),
      orderId: String(payment.orderId),
      refundId: String(refund.id),
      amount: refund.amount,
      ...(refund.reason ? { reason: refund.reason } : {}),
      kind: refund.kind,
      refundedAt: at.toISOString(),
    },
  });
}
