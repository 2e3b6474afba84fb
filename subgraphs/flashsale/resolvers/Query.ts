import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  flashSales: (_, args, ctx) => ctx.flashSales.flashSales(args.first),
  flashSale: (_, args, ctx) => ctx.flashSales.flashSale(args.id),
  flashSalePurchase: (_, args, ctx) => ctx.flashSales.purchase(ctx, args.id),
};
