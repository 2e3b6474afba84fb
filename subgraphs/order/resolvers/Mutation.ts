import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  cancelOrder: (_, args, ctx) => ctx.orders.cancelOrder(ctx, args.id),
  shipOrder: (_, { id, carrier, trackingNumber }, ctx) => ctx.orders.shipOrder(ctx, id, { carrier, trackingNumber }),
  completeOrder: (_, args, ctx) => ctx.orders.completeOrder(ctx, args.id),
  placeOrder: (_, args, ctx) => ctx.orders.placeOrder(ctx, args.input),
};
