import { encodeId } from '@mall/platform';
import type { ProductResolvers, ProductSnapshotResolvers } from './generated/types.ts';

export const Product: ProductResolvers = {
  // Called by the router's query plan for carts, orders and flash sales: batched through the request's loader.
  __resolveReference: (reference, ctx) => ctx.catalog.reference(ctx, reference.id),
  id: (product) => encodeId(product.id),
  imageUrl: (product) => product.imageUrls[0] ?? null,
  stock: (product, _, ctx) => ctx.catalog.stock(ctx, product),
  categories: (product, _, ctx) => ctx.catalog.productCategories(ctx, product),
  // A reference the user subgraph resolves (its own access rules apply to any field beyond id).
  merchant: (product) => ({ __typename: 'User', id: encodeId(product.merchantId) }),
};

export const ProductSnapshot: ProductSnapshotResolvers = {
  id: (product) => encodeId(product.id),
  deleted: (product) => product.deletedAt !== null,
  stock: (product, _, ctx) => ctx.catalog.stock(ctx, product),
};
