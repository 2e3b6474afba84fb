/**
 * The shop bench/checkout.ts and bench/checkout-count.ts check out in: router, user, auth, product, order and
 * checkout in this process (rate limits off), a catalog of one merchant's products, registered buyers with carts
 * of 1–5 distinct lines (1–3 units each) spread over it. The cart's internal checkoutCart is a stub in this
 * process answering each buyer's cart, so a buyer can check out again and again (the real cart empties on
 * order.created) and the figures are checkout's own, not AddToCart's.
 */
import type { SubgraphName } from '@mall/platform';
import { data, startGraphQLStub } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`;
const ASSIGN = `mutation AssignRole($userId: ID!, $role: Role!) { assignRole(userId: $userId, role: $role) { id } }`;
const CREATE_PRODUCT = `mutation CreateProduct($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const CHECKOUT = `mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) { id number status expiresAt total { amount currency } items { quantity unitPrice { amount currency } product { id name } } }
}`;
/** A valid shipping address for a bench buyer's order. */
export const BENCH_ADDRESS = {
  recipient: 'Bench Buyer',
  phone: '+86 138 0000 0000',
  line1: '1 Bench Road',
  city: 'Shanghai',
  country: 'CN',
};

export const SHOP_SUBGRAPHS: SubgraphName[] = ['user', 'auth', 'product', 'order', 'checkout'];

export interface CheckoutShop {
  readonly stack: TestStack;
  /** The cart stub's URL. */
  readonly cartUrl: string;
  readonly buyers: readonly { readonly id: string; readonly token: string }[];
  /** Each buyer's cart: line counts, for the report. */
  readonly cartSizes: readonly number[];
  /** Checks out buyer `i % buyers` under key `${keyPrefix}-${i}`; true when the answer had no errors. */
  checkout(keyPrefix: string, i: number): Promise<boolean>;
  close(): Promise<void>;
}

export async function startCheckoutShop(options: {
  readonly users: number;
  readonly products: number;
  /** Distinguishes the seeded accounts' emails between scripts. */
  readonly label: string;
}): Promise<CheckoutShop> {
  const carts = new Map<string, { productId: string; quantity: number }[]>();
  const cart = await startGraphQLStub(({ variables }) => {
    const userId = String(variables['userId']);
    return { data: { checkoutCart: { userId, lines: carts.get(userId) ?? [] } } };
  });
  const stack = await startTestStack({
    subgraphs: SHOP_SUBGRAPHS,
    env: {
      RATE_LIMIT_IP_PER_MINUTE: '0',
      RATE_LIMIT_USER_PER_MINUTE: '0',
      CART_URL: `${cart.url}/graphql`,
      LOG_LEVEL: 'error',
    },
  });
  const close = async () => {
    await stack.close();
    await cart.close();
  };
  try {
    const login = async (email: string, password: string) =>
      data<{ login: { accessToken: string } }>(await stack.gql(LOGIN, { email, password })).login.accessToken;
    const admin = await login(stack.admin.email, stack.admin.password);
    const register = async (email: string) =>
      data<{ register: { accessToken: string; user: { id: string } } }>(
        await stack.gql(REGISTER, { input: { email, password: 'password-123' } }),
      ).register;
    const merchant = await register(`${options.label}-merchant@example.com`);
    data(await stack.gql(ASSIGN, { userId: merchant.user.id, role: 'MERCHANT' }, { token: admin }));
    const seller = await login(`${options.label}-merchant@example.com`, 'password-123');
    const products: string[] = [];
    for (let i = 0; i < options.products; i++) {
      const input = { name: `Bench item ${i}`, priceAmount: 100 + i * 37, stock: 1_000_000 };
      products.push(
        data<{ createProduct: { id: string } }>(await stack.gql(CREATE_PRODUCT, { input }, { token: seller }))
          .createProduct.id,
      );
    }
    const buyers: { id: string; token: string }[] = [];
    for (let i = 0; i < options.users; i++) {
      const { accessToken, user } = await register(`${options.label}-buyer-${i}@example.com`);
      buyers.push({ id: user.id, token: accessToken });
      carts.set(
        user.id,
        Array.from({ length: 1 + (i % 5) }, (_, j) => ({
          productId: products[(i * 7 + j * 11) % products.length]!,
          quantity: 1 + ((i + j) % 3),
        })),
      );
    }
    return {
      stack,
      cartUrl: cart.url,
      buyers,
      cartSizes: [...carts.values()].map((lines) => lines.length),
      async checkout(keyPrefix, i) {
        const result = await stack.gql(
          CHECKOUT,
          { input: { idempotencyKey: `${keyPrefix}-${i}`, shippingAddress: BENCH_ADDRESS } },
          { token: buyers[i % buyers.length]!.token },
        );
        return !result.body.errors;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
