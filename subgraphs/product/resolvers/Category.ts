import { encodeId } from '@mall/platform';
import type { CategoryResolvers } from './generated/types.ts';

export const Category: CategoryResolvers = {
  __resolveReference: (reference, ctx) => ctx.catalog.category(ctx, { id: reference.id }),
  id: (category) => encodeId(category.id),
  parent: (category, _, ctx) => ctx.catalog.parent(ctx, category),
  children: (category, _, ctx) => ctx.catalog.children(ctx, category),
  ancestors: (category, _, ctx) => ctx.catalog.ancestors(ctx, category),
};
