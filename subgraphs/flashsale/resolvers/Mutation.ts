import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  createFlashSale: (_, args, ctx) => ctx.flashSales.createFlashSale(ctx, args.input),
  buyFlashSale: (_, args, ctx) => ctx.flashSales.buy(ctx, args.input),
};
