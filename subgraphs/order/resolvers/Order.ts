import { encodeId } from '@mall/platform';
import { lineTotal } from '../domain/order.ts';
import type { OrderItemResolvers, OrderResolvers, UserResolvers } from './generated/types.ts';

export const Order: OrderResolvers = {
  // Called by the router's query plan with the caller's identity: batched, and access-checked like order(id).
  __resolveReference: (reference, ctx) => ctx.orders.reference(ctx, reference.id),
  id: (order) => encodeId(order.id),
  userId: (order) => encodeId(order.userId),
  items: (order) => [...order.lines],
  statusHistory: (order) => [...order.history],
};

export const OrderItem: OrderItemResolvers = {
  product: (line) => ({ id: encodeId(line.productId) }),
  lineTotal: (line) => lineTotal(line),
};

export const User: UserResolvers = {
  // Only the id is known here; whether the caller may see this user's orders is checked by `orders`.
  __resolveReference: (reference) => ({ id: reference.id }),
  orders: (user, { first, after, status }, ctx) => ctx.orders.userOrders(ctx, user.id, { first, after, status }),
};
