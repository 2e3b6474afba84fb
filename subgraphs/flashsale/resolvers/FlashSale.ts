import { encodeId } from '@mall/platform';
import type { FlashSalePurchaseResolvers, FlashSaleResolvers } from './generated/types.ts';

export const FlashSale: FlashSaleResolvers = {
  // Sales are public: a reference needs no access check.
  __resolveReference: (reference, ctx) => ctx.flashSales.flashSale(reference.id),
  id: (sale) => encodeId(sale.id),
  product: (sale) => ({ id: encodeId(sale.productId) }),
  remaining: (sale, _, ctx) => ctx.flashSales.remaining(sale),
};

export const FlashSalePurchase: FlashSalePurchaseResolvers = {
  // Same visibility as flashSalePurchase(id): the owner's or an ADMIN's.
  __resolveReference: (reference, ctx) => ctx.flashSales.purchase(ctx, reference.id),
  id: (purchase) => encodeId(purchase.id),
  flashSale: async (purchase, _, ctx) => {
    const sale = await ctx.flashSales.flashSale(encodeId(purchase.flashSaleId));
    if (!sale) throw new Error(`purchase ${purchase.id} names sale ${purchase.flashSaleId}, which does not exist`);
    return sale;
  },
  order: (purchase) => (purchase.orderId === null ? null : { id: encodeId(purchase.orderId) }),
};
