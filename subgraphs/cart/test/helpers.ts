// What the cart tests share beside the order and product tests' helpers: the contract's cart operations and
// checkout's internal read of a cart.
import { randomBytes } from 'node:crypto';
import {
  defineServiceOperation,
  IdentitySigner,
  resolveInternalSecret,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import type { TestStack } from '@mall/stack/testing';
import { z } from 'zod';

// The contract's operations (../shared/contract/operations.graphql), verbatim.
export const CART = `query Cart {
  cart {
    itemCount
    items { quantity product { id name price { amount currency } } lineTotal { amount currency } }
    subtotal { amount currency }
  }
}`;
export const ADD_TO_CART = `mutation AddToCart($productId: ID!, $quantity: Int!) {
  addToCart(productId: $productId, quantity: $quantity) { itemCount items { quantity product { id } } }
}`;
export const UPDATE_CART_ITEM = `mutation UpdateCartItem($productId: ID!, $quantity: Int!) {
  updateCartItem(productId: $productId, quantity: $quantity) { itemCount items { quantity product { id } } }
}`;
export const REMOVE_FROM_CART = `mutation RemoveFromCart($productId: ID!) { removeFromCart(productId: $productId) { itemCount } }`;
export const CLEAR_CART = `mutation ClearCart { clearCart { itemCount } }`;
export const ME = `query Me {
  me {
    id email name roles createdAt
    cart { itemCount }
    orders(first: 5) { totalCount edges { node { id status } } }
  }
}`;

export interface CartView {
  readonly itemCount: number;
  readonly items: {
    readonly quantity: number;
    readonly product: { readonly id: string; readonly name: string; readonly price: { amount: number } };
    readonly lineTotal: { readonly amount: number; readonly currency: string };
  }[];
  readonly subtotal: { readonly amount: number; readonly currency: string };
}

export interface CheckoutCart {
  readonly userId: string;
  readonly lines: { readonly productId: string; readonly quantity: number }[];
}

const checkoutCartOperation = defineServiceOperation<{ userId: string }, { checkoutCart: CheckoutCart }>(
  `query CheckoutCart($userId: ID!) { checkoutCart(userId: $userId) { userId lines { productId quantity } } }`,
  z.object({
    checkoutCart: z.object({
      userId: z.string(),
      lines: z.array(z.object({ productId: z.string(), quantity: z.number() })),
    }),
  }),
);

/** Checkout's internal read of a user's cart, on the cart subgraph's URL, signed as `issuer` (checkout). */
export async function checkoutCart(stack: TestStack, userId: string, issuer = 'checkout'): Promise<CheckoutCart> {
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), issuer);
  const client = new ServiceClient({ url: stack.subgraphUrls['cart']!, target: 'cart', signer });
  const call: ServiceCallOptions = { requestId: `test-${randomBytes(4).toString('hex')}` };
  return (await checkoutCartOperation(client, call, { userId })).checkoutCart;
}
