import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  // Spelled out, not passed whole: a renamed argument must fail tsc here, not become an ignored extra key.
  orders: (_, { first, after, status, userId }, ctx) => ctx.orders.orders(ctx, { first, after, status, userId }),
  order: (_, args, ctx) => ctx.orders.order(ctx, args.id),
  orderForPayment: (_, args, ctx) => ctx.orders.orderForPayment(ctx, args.id),
};
