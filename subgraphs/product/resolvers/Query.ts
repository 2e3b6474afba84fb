import type { QueryResolvers } from './generated/types.ts';

export const Query: QueryResolvers = {
  categories: (_, __, ctx) => ctx.catalog.categories(ctx),
  category: (_, { id, slug }, ctx) => ctx.catalog.category(ctx, { id, slug }),
  product: (_, args, ctx) => ctx.catalog.product(ctx, args.id),
  // Spelled out, not passed whole: a renamed argument must fail tsc here, not become an ignored extra key.
  products: (_, { filter, sort, first, after }, ctx) => ctx.catalog.products(ctx, { filter, sort, first, after }),
  productsByIds: (_, { ids }, ctx) => ctx.catalog.productsByIds(ctx, ids),
};
