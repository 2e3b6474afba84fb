// What the checkout tests share: shoppers filling real carts through the router, a stand-in for the cart's
// internal checkoutCart where a test runs checkout without the cart subgraph, products, and the contract's
// operations.
import { domainDatabaseUrl } from '@mall/platform';
import { startGraphQLStub } from '@mall/platform/testing';
import type { TestStack } from '@mall/stack/testing';
import pg from 'pg';
import { ADD_TO_CART } from '../../cart/test/helpers.ts';
import { type Caller, createProduct, customer, merchant, signIn } from '../../product/test/helpers.ts';
import type { CartLine } from '../domain/checkout.ts';

export { ADDRESS } from '../../order/test/helpers.ts';
export { customer } from '../../product/test/helpers.ts';
export type { Caller };

export const CHECKOUT = `mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    id number status expiresAt
    total { amount currency }
    items { quantity unitPrice { amount currency } product { id name } }
  }
}`;
export const ORDERS = `query Orders($first: Int, $after: String, $status: OrderStatus) {
  orders(first: $first, after: $after, status: $status) {
    totalCount
    edges { cursor node { id number status total { amount currency } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
export const ORDER = `query Order($id: ID!) {
  order(id: $id) { id number status total { amount currency } items { quantity product { id name } } }
}`;
export const CANCEL_ORDER = `mutation CancelOrder($id: ID!) { cancelOrder(id: $id) { id status } }`;
export const STOCK = `query Product($id: ID!) { product(id: $id) { id stock } }`;
const DEACTIVATE = `mutation Deactivate($id: ID!) { updateProduct(id: $id, input: { active: false }) { id active } }`;

export interface CheckedOutOrder {
  readonly id: string;
  readonly number: string;
  readonly status: string;
  readonly total: { readonly amount: number; readonly currency: string };
  readonly items: { readonly quantity: number; readonly unitPrice: { readonly amount: number } }[];
}

/** A fresh customer who put `lines` in their cart through the router. */
export async function shopper(stack: TestStack, lines: readonly CartLine[]): Promise<Caller> {
  const caller = await customer(stack);
  for (const line of lines) {
    const added = await stack.gql(ADD_TO_CART, { ...line }, { token: caller.token });
    if (added.body.errors) throw new Error(`addToCart failed: ${JSON.stringify(added.body.errors)}`);
  }
  return caller;
}

/** The cart's internal API as the checkout calls it, answering from `carts` (user id → lines). */
export async function startCartStub() {
  const carts = new Map<string, CartLine[]>();
  const stub = await startGraphQLStub(({ variables }) => {
    const userId = String(variables['userId']);
    return { data: { checkoutCart: { userId, lines: carts.get(userId) ?? [] } } };
  });
  return { url: stub.url, carts, close: () => stub.close() };
}

/** A merchant able to list products and switch them off. */
export async function seller(stack: TestStack) {
  const owner = await merchant(stack, await signIn(stack, stack.admin.email, stack.admin.password));
  return {
    product: (input: { name?: string; priceAmount?: number; stock: number }) =>
      createProduct(stack, owner, { name: `Checkout ${Math.random().toString(36).slice(2, 8)}`, ...input }),
    deactivate: async (id: string) => stack.gql(DEACTIVATE, { id }, { token: owner.token }),
  };
}

export async function stockOf(stack: TestStack, id: string): Promise<number> {
  const result = await stack.gql<{ product: { stock: number } }>(STOCK, { id });
  return result.body.data?.product.stock ?? Number.NaN;
}

export const checkout = (stack: TestStack, caller: Caller, input: Record<string, unknown>) =>
  stack.gql<{ checkout: CheckedOutOrder }>(CHECKOUT, { input }, { token: caller.token });

/** What checkout's own database holds in flight: checkouts not yet ended, and keys claimed but not completed. */
export async function inFlight(stack: Pick<TestStack, 'config'>): Promise<{ attempts: number; pendingKeys: number }> {
  const client = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'checkout') });
  await client.connect();
  try {
    const { rows } = await client.query<{ attempts: number; pending_keys: number }>(
      `SELECT (SELECT count(*)::int FROM checkout_attempts) AS attempts,
              (SELECT count(*)::int FROM idempotency_keys WHERE completed_at IS NULL) AS pending_keys`,
    );
    return { attempts: rows[0]!.attempts, pendingKeys: rows[0]!.pending_keys };
  } finally {
    await client.end();
  }
}
