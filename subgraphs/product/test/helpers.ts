// What the product tests share: signing in the roles they need, the catalog operations, and calls to the
// internal stock fields as the order subgraph makes them.
import { randomBytes, randomUUID } from 'node:crypto';
import { createLogger, IdentitySigner, type Role, type RunningService, resolveInternalSecret } from '@mall/platform';
import { data } from '@mall/platform/testing';
import { type GraphQLResult, postGraphQL, type TestStack } from '@mall/stack/testing';
import type { Redis } from 'ioredis';
import productSubgraph from '../index.ts';

export const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`;
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const ASSIGN = `mutation AssignRole($userId: ID!, $role: Role!) { assignRole(userId: $userId, role: $role) { id } }`;

export const CREATE_CATEGORY = `mutation CreateCategory($input: CreateCategoryInput!) {
  createCategory(input: $input) { id name slug parent { id } }
}`;
export const CREATE_PRODUCT = `mutation CreateProduct($input: CreateProductInput!) {
  createProduct(input: $input) { id name price { amount currency } stock categories { id } }
}`;
export const PRODUCT = `query Product($id: ID!) {
  product(id: $id) { id name description price { amount currency } stock categories { id name } }
}`;
export const PRODUCTS = `query Products($filter: ProductFilter, $sort: ProductSort, $first: Int, $after: String) {
  products(filter: $filter, sort: $sort, first: $first, after: $after) {
    totalCount
    edges { cursor node { id name price { amount currency } stock } }
    pageInfo { hasNextPage endCursor }
  }
}`;
export const ADJUST_STOCK = `mutation AdjustStock($productId: ID!, $delta: Int!) { adjustStock(productId: $productId, delta: $delta) { id stock } }`;

export interface Caller {
  readonly id: string;
  readonly token: string;
}

export interface ProductView {
  readonly id: string;
  readonly name: string;
  readonly price: { readonly amount: number; readonly currency: string };
  readonly stock: number;
}

export interface ProductsView {
  readonly totalCount: number;
  readonly edges: { readonly cursor: string; readonly node: ProductView }[];
  readonly pageInfo: { readonly hasNextPage: boolean; readonly endCursor: string | null };
}

export async function signIn(stack: TestStack, email: string, password: string): Promise<Caller> {
  const { login } = data<{ login: { accessToken: string; user: { id: string } } }>(
    await stack.gql(LOGIN, { email, password }),
  );
  return { id: login.user.id, token: login.accessToken };
}

/** A fresh customer, signed in. */
export async function customer(stack: TestStack): Promise<Caller> {
  const email = `c-${randomBytes(5).toString('hex')}@example.com`;
  const { register } = data<{ register: { accessToken: string; user: { id: string } } }>(
    await stack.gql(REGISTER, { input: { email, password: 'password-123' } }),
  );
  return { id: register.user.id, token: register.accessToken };
}

/** A fresh MERCHANT (promoted by the admin), signed in again so the token carries the role. */
export async function merchant(stack: TestStack, admin: Caller): Promise<Caller> {
  const email = `m-${randomBytes(5).toString('hex')}@example.com`;
  const { register } = data<{ register: { user: { id: string } } }>(
    await stack.gql(REGISTER, { input: { email, password: 'password-123' } }),
  );
  data(await stack.gql(ASSIGN, { userId: register.user.id, role: 'MERCHANT' }, { token: admin.token }));
  return signIn(stack, email, 'password-123');
}

export async function createProduct(
  stack: TestStack,
  caller: Caller,
  input: Record<string, unknown>,
): Promise<ProductView & { categories: { id: string }[] }> {
  return data(
    await stack.gql(CREATE_PRODUCT, { input: { priceAmount: 1000, stock: 10, ...input } }, { token: caller.token }),
    'createProduct',
  );
}

/**
 * Posts to a product subgraph instance directly, signed as `issuer`: `router` for what the router's query plan
 * sends (entity references, or a signed-in user's request with `userId` and `roles`), `order` for the internal
 * stock fields.
 */
export async function direct<T = Record<string, unknown>>(
  stack: TestStack,
  query: string,
  variables: Record<string, unknown>,
  options: { issuer?: string; url?: string; userId?: string; roles?: readonly Role[] } = {},
): Promise<GraphQLResult<T>> {
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), options.issuer ?? 'order');
  const requestId = randomUUID();
  const token = await signer.sign({
    userId: options.userId ?? null,
    roles: options.roles ?? [],
    requestId,
    audience: 'product',
  });
  const base = options.url ?? stack.subgraphUrls['product'];
  return postGraphQL<T>(`${base}/graphql`, query, variables, {
    headers: { 'mall-identity': token, 'x-request-id': requestId },
  });
}

/** The router's entity fetch for products (what a cart or an order selecting its products causes). */
export async function productEntities(
  stack: TestStack,
  url: string,
  ids: readonly string[],
  selection = 'id name stock',
): Promise<{ id: string; name: string; stock: number }[]> {
  const result = await direct<{ _entities: { id: string; name: string; stock: number }[] }>(
    stack,
    `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { ${selection} } } }`,
    { r: ids.map((id) => ({ __typename: 'Product', id })) },
    { issuer: 'router', url },
  );
  return data<{ _entities: { id: string; name: string; stock: number }[] }>(result)._entities;
}

/**
 * Another product instance beside the stack's, on its databases and broker, with its own Redis client if given.
 * Its Redis calls may take up to a second before it reads from Postgres instead: a loaded test machine must not
 * turn a cache hit into a miss.
 */
export async function startProductInstance(
  stack: TestStack,
  options: { redis?: Redis; onQuery?: (event: { query: string }) => void; cacheTimeoutMs?: number } = {},
): Promise<RunningService> {
  return productSubgraph.start(
    {
      config: stack.config,
      logger: createLogger({ service: 'product-extra', level: 'silent' }),
      internalSecret: await resolveInternalSecret(stack.config),
      redis: options.redis ?? stack.redis,
    },
    {
      port: 0,
      options: { cacheTimeoutMs: options.cacheTimeoutMs ?? 1_000 },
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    },
  );
}

export const RESERVE = `mutation Reserve($orderId: ID!, $lines: [ReservationLineInput!]!) {
  reserveStock(orderId: $orderId, lines: $lines) { id orderId status expiresAt lines { productId quantity } }
}`;
export const COMMIT = `mutation Commit($orderId: ID!) { commitReservation(orderId: $orderId) { id status } }`;
export const RELEASE = `mutation Release($orderId: ID!) { releaseReservation(orderId: $orderId) { id status } }`;

let orderSeq = 0n;
/** A fresh order id (a decimal snowflake-sized id no other test uses). */
export function nextOrderId(): string {
  orderSeq++;
  return String(BigInt(Date.now()) * 1_000_000n + BigInt(process.pid % 1000) * 1000n + orderSeq);
}
