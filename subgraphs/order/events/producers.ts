import { createEvent, type EventEnvelope } from '@mall/events';
import { type CancelReason, lineTotal, type Order } from '../domain/order.ts';

// The order.events envelopes this subgraph writes to its outbox, always in the transaction of the change they
// describe. Keyed by order id, so one order's events stay in order on one partition.

const base = (order: Order, traceId: string) => ({ aggregateId: String(order.id), traceId });
// A flash-sale order names its purchase, so flashsale can confirm or release it.
const flashSale = (order: Order) =>
  order.flashSalePurchaseId === null ? {} : { flashSalePurchaseId: String(order.flashSalePurchaseId) };

export function orderCreated(order: Order, traceId: string): EventEnvelope<'order.created'> {
  return createEvent('order.created', {
    ...base(order, traceId),
    data: {
      orderId: String(order.id),
      orderNumber: order.number,
      userId: String(order.userId),
      items: order.lines.map((line) => ({
        productId: String(line.productId),
        quantity: line.quantity,
        unitPrice: line.unitPrice,
        lineTotal: lineTotal(line),
      })),
      total: order.total,
      ...flashSale(order),
      expiresAt: order.expiresAt.toISOString(),
    },
  });
}

// The event schema predates the state machine's reason names; the mapping keeps both stable.
const EVENT_REASON = { USER: 'USER_CANCELLED', TIMEOUT: 'PAYMENT_TIMEOUT', ADMIN: 'ADMIN_CANCELLED' } as const;

export function orderCancelled(
  order: Order,
  reason: CancelReason,
  at: Date,
  traceId: string,
): EventEnvelope<'order.cancelled'> {
  return createEvent('order.cancelled', {
    ...base(order, traceId),
    data: {
      orderId: String(order.id),
      userId: String(order.userId),
      reason: EVENT_REASON[reason],
      ...flashSale(order),
      cancelledAt: at.toISOString(),
    },
  });
}

export function orderPaid(order: Order, paymentId: string, at: Date, traceId: string): EventEnvelope<'order.paid'> {
  return createEvent('order.paid', {
    ...base(order, traceId),
    data: {
      orderId: String(order.id),
      userId: String(order.userId),
      paymentId,
      amount: order.total,
      paidAt: at.toISOString(),
    },
  });
}

export function orderShipped(
  order: Order,
  shipment: { readonly carrier: string | null; readonly trackingNumber: string | null },
  at: Date,
  traceId: string,
): EventEnvelope<'order.shipped'> {
  return createEvent('order.shipped', {
    ...base(order, traceId),
    data: {
      orderId: String(order.id),
      userId: String(order.userId),
      ...(shipment.carrier ? { carrier: shipment.carrier } : {}),
      ...(shipment.trackingNumber ? { trackingNumber: shipment.trackingNumber } : {}),
      shippedAt: at.toISOString(),
    },
  });
}

export function orderCompleted(order: Order, at: Date, traceId: string): EventEnvelope<'order.completed'> {
  return createEvent('order.completed', {
    ...base(order, traceId),
    data: { orderId: String(order.id), userId: String(order.userId), completedAt: at.toISOString() },
  });
}

export function orderRefunded(
  order: Order,
  refund: { readonly paymentId: string },
  at: Date,
  traceId: string,
): EventEnvelope<'order.refunded'> {
  return createEvent('order.refunded', {
    ...base(order, traceId),
    data: {
      orderId: String(order.id),
      userId: String(order.userId),
      paymentId: refund.paymentId,
      amount: order.total,
      items: order.lines.map((line) => ({ productId: String(line.productId), quantity: line.quantity })),
      refundedAt: at.toISOString(),
    },
  });
}
