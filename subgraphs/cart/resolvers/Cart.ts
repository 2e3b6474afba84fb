import { encodeId } from '@mall/platform';
import { itemCount } from '../domain/cart.ts';
import type {
  CartItemResolvers,
  CartResolvers,
  CheckoutCartLineResolvers,
  CheckoutCartResolvers,
  UserResolvers,
} from './generated/types.ts';

export const Cart: CartResolvers = {
  // From the lines alone: `me { cart { itemCount } }` never asks the catalog.
  itemCount: (cart) => itemCount(cart),
  items: async (cart, _, ctx) => (await ctx.carts.priced(ctx, cart)).items,
  subtotal: async (cart, _, ctx) => (await ctx.carts.priced(ctx, cart)).subtotal,
};

export const CartItem: CartItemResolvers = {
  // A reference the product subgraph resolves (name, price, … as the catalog has them now).
  product: (item) => ({ __typename: 'Product', id: encodeId(item.productId) }),
};

export const User: UserResolvers = {
  cart: (user, _, ctx) => ctx.carts.userCart(ctx, user),
};

export const CheckoutCart: CheckoutCartResolvers = {
  userId: (cart) => encodeId(cart.userId),
};

export const CheckoutCartLine: CheckoutCartLineResolvers = {
  productId: (line) => encodeId(line.productId),
};
