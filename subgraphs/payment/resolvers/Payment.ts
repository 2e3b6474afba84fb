import { encodeId } from '@mall/platform';
import type { OrderResolvers, PaymentResolvers } from './generated/types.ts';

export const Payment: PaymentResolvers = {
  // Called by the router's query plan with the caller's identity: batched, and access-checked like payment(id).
  __resolveReference: (reference, ctx) => ctx.payments.reference(ctx, reference.id),
  id: (payment) => encodeId(payment.id),
  checkoutUrl: (payment) => (payment.status === 'PENDING' ? payment.checkoutUrl : null),
  order: (payment) => ({ id: encodeId(payment.orderId) }),
};

export const Order: OrderResolvers = {
  // Only the id is known here; whether the caller may see the payment is checked by `orderPayment`.
  __resolveReference: (reference) => ({ id: reference.id }),
  payment: (order, _, ctx) => ctx.payments.orderPayment(ctx, order.id),
};
