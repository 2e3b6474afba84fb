import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  cart: (_, __, ctx) => ctx.carts.cart(ctx),
  checkoutCart: (_, { userId }, ctx) => ctx.carts.checkoutCart(ctx, userId),
};
