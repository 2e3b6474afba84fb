// What the flash-sale tests (and the bench) share: a stack whose access tokens the test can mint for any
// number of buyers (auth signs with a key the test gave it, so the router accepts them like a login's), the
// contract's operations, and a bounded pool of concurrent callers.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunningSubgraph } from '@mall/platform/kit';
import { data, errorCode } from '@mall/platform/testing';
import type { TestStack } from '@mall/stack/testing';
import { signAccessToken } from '../../auth/data/access-tokens.ts';
import { generatePrivateKeyPem, parsePrivateKey, type SigningKey } from '../../auth/data/signing-keys.ts';
import type { FlashSaleService } from '../service.ts';

export const CREATE_FLASH_SALE = `mutation CreateFlashSale($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) { id quantity remaining perUserLimit startsAt endsAt price { amount currency } product { id } }
}`;
export const FLASH_SALES = `query FlashSales { flashSales { id remaining startsAt endsAt price { amount currency } product { id name } } }`;
export const BUY_FLASH_SALE = `mutation BuyFlashSale($input: BuyFlashSaleInput!) {
  buyFlashSale(input: $input) { id status reason order { id status } }
}`;
export const FLASH_SALE_PURCHASE = `query FlashSalePurchase($id: ID!) {
  flashSalePurchase(id: $id) { id status reason order { id status total { amount } } }
}`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`;
const CREATE_PRODUCT = `mutation CreateProduct($input: CreateProductInput!) { createProduct(input: $input) { id stock } }`;
const PRODUCT_STOCK = `query Product($id: ID!) { product(id: $id) { id stock } }`;

export interface Caller {
  readonly id: string;
  readonly token: string;
}

export interface PurchaseView {
  readonly id: string;
  readonly status: string;
  readonly reason: string | null;
  readonly order: { readonly id: string; readonly status: string; readonly total?: { amount: number } } | null;
}

/** A key auth signs access tokens with; the test mints more tokens with it. */
export class TokenMint {
  readonly pem: string;
  #key: SigningKey | undefined;
  /** `pem`: a key the stack's auth was started with (the bench's load generator mints in its own process). */
  constructor(pem: string = generatePrivateKeyPem()) {
    this.pem = pem;
  }
  // Test users the user subgraph never saw: the flash-sale and order subgraphs only need the id.
  #nextUser = 7_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12));

  async buyer(roles: readonly ('CUSTOMER' | 'ADMIN')[] = ['CUSTOMER']): Promise<Caller> {
    this.#key ??= await parsePrivateKey(this.pem);
    const id = String(this.#nextUser++);
    const settings = { issuer: 'mall-auth', audience: 'mall-api', ttlSeconds: 900 };
    const { token } = await signAccessToken(
      this.#key,
      settings,
      { userId: id, roles, sessionId: randomUUID() },
      new Date(),
    );
    return { id, token };
  }
}

/** Environment for a flash-sale test stack: the mint's key, and no edge rate limits (one client address). */
export const flashSaleEnv = (mint: TokenMint, extra: Record<string, string> = {}) => ({
  AUTH_JWT_PRIVATE_KEY: mint.pem,
  RATE_LIMIT_IP_PER_MINUTE: '0',
  RATE_LIMIT_USER_PER_MINUTE: '0',
  FLASHSALE_IP_LIMIT: '0',
  ...extra,
});

export async function signInAdmin(stack: TestStack): Promise<Caller> {
  const { login } = data<{ login: { accessToken: string; user: { id: string } } }>(
    await stack.gql(LOGIN, { email: stack.admin.email, password: stack.admin.password }),
  );
  return { id: login.user.id, token: login.accessToken };
}

export async function createProduct(stack: TestStack, admin: Caller, stock: number): Promise<string> {
  const input = { name: `Flash ${randomUUID().slice(0, 8)}`, priceAmount: 9900, stock };
  return data<{ id: string }>(await stack.gql(CREATE_PRODUCT, { input }, { token: admin.token }), 'createProduct').id;
}

export async function productStock(stack: TestStack, productId: string): Promise<number> {
  return data<{ stock: number }>(await stack.gql(PRODUCT_STOCK, { id: productId }), 'product').stock;
}

export interface SaleView {
  readonly id: string;
  readonly quantity: number;
  readonly remaining: number;
  readonly price: { amount: number; currency: string };
}

export async function createSale(
  stack: TestStack,
  admin: Caller,
  input: {
    productId: string;
    quantity: number;
    perUserLimit?: number;
    startsAt?: Date;
    endsAt?: Date;
    priceAmount?: number;
  },
): Promise<SaleView> {
  const now = Date.now();
  const variables = {
    input: {
      productId: input.productId,
      priceAmount: input.priceAmount ?? 100,
      quantity: input.quantity,
      perUserLimit: input.perUserLimit ?? 1,
      startsAt: (input.startsAt ?? new Date(now - 1000)).toISOString(),
      endsAt: (input.endsAt ?? new Date(now + 3600_000)).toISOString(),
    },
  };
  return data<SaleView>(await stack.gql(CREATE_FLASH_SALE, variables, { token: admin.token }), 'createFlashSale');
}

/** Answers UNAVAILABLE got and retried (a loaded machine: the router's Redis checks time out under a burst). */
export const retried = { unavailable: 0 };

/**
 * Buys as a client does: a fresh idempotency key unless given, and UNAVAILABLE retried with the same key after
 * its `retryAfterSeconds` (capped at 200 ms here), up to 5 times — which the key makes safe.
 */
export async function buy(
  stack: TestStack,
  caller: Caller,
  input: { flashSaleId: string; idempotencyKey?: string; quantity?: number },
): Promise<PurchaseView> {
  const variables = { input: { idempotencyKey: randomUUID(), ...input } };
  for (let attempt = 1; ; attempt++) {
    const result = await stack.gql<{ buyFlashSale: PurchaseView }>(BUY_FLASH_SALE, variables, { token: caller.token });
    if (errorCode(result) !== 'UNAVAILABLE' || attempt === 5) return data<PurchaseView>(result, 'buyFlashSale');
    retried.unavailable++;
    await delay(200);
  }
}

export async function purchase(stack: TestStack, caller: Caller, id: string): Promise<PurchaseView> {
  return data<PurchaseView>(await stack.gql(FLASH_SALE_PURCHASE, { id }, { token: caller.token }), 'flashSalePurchase');
}

/** Runs `task` for every item with at most `concurrency` in flight; results in item order. */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** The stack's running flash-sale service (in-process), for what no public operation does: settlement. */
export function flashSaleService(stack: TestStack): FlashSaleService {
  const running = stack.stack.services.get('flashsale') as RunningSubgraph<FlashSaleService> | undefined;
  if (!running?.info) throw new Error('the stack runs no flashsale subgraph');
  return running.info;
}

export const countBy = <T>(items: readonly T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};
