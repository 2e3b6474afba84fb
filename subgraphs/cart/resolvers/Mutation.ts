import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  addToCart: (_, { productId, quantity }, ctx) => ctx.carts.addToCart(ctx, productId, quantity),
  updateCartItem: (_, { productId, quantity }, ctx) => ctx.carts.updateCartItem(ctx, productId, quantity),
  removeFromCart: (_, { productId }, ctx) => ctx.carts.removeFromCart(ctx, productId),
  clearCart: (_, __, ctx) => ctx.carts.clearCart(ctx),
};
