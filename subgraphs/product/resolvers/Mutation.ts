import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  createCategory: (_, args, ctx) => ctx.catalog.createCategory(ctx, args.input),
  updateCategory: (_, args, ctx) => ctx.catalog.updateCategory(ctx, args.id, args.input),
  deleteCategory: (_, args, ctx) => ctx.catalog.deleteCategory(ctx, args.id),
  createProduct: (_, args, ctx) => ctx.catalog.createProduct(ctx, args.input),
  updateProduct: (_, args, ctx) => ctx.catalog.updateProduct(ctx, args.id, args.input),
  deleteProduct: (_, args, ctx) => ctx.catalog.deleteProduct(ctx, args.id),
  adjustStock: (_, args, ctx) => ctx.inventory.adjustStock(ctx, args.productId, args.delta),
  reserveStock: (_, args, ctx) => ctx.inventory.reserveStock(ctx, args.orderId, args.lines, args.expiresAt),
  commitReservation: (_, args, ctx) => ctx.inventory.commitReservation(ctx, args.orderId),
  releaseReservation: (_, args, ctx) => ctx.inventory.releaseReservation(ctx, args.orderId),
  settleReservation: (_, args, ctx) => ctx.inventory.settleReservation(ctx, args.orderId, args.keepQuantity),
};
