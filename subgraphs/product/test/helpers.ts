// What the product tests share: signing in the roles they need, the catalog operations, and calls to the
// internal stock fields as the order subgraph makes them.
import { randomBytes, randomUUID } from 'node:crypto';
import { IdentitySigner, resolveInternalSecret } from '@mall/platform';
import { data } from '@mall/platform/testing';
import { type GraphQLResult, postGraphQL, type TestStack } from '@mall/stack/testing';

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

/** Calls the product subgraph's internal fields directly, signed as `issuer` (the order subgraph by default). */
export async function internal<T = Record<string, unknown>>(
  stack: TestStack,
  query: string,
  variables: Record<string, unknown>,
  issuer = 'order',
): Promise<GraphQLResult<T>> {
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), issuer);
  const requestId = randomUUID();
  const token = await signer.sign({ userId: null, roles: [], requestId, audience: 'product' });
  return postGraphQL<T>(`${stack.subgraphUrls['product']}/graphql`, query, variables, {
    headers: { 'mall-identity': token, 'x-request-id': requestId },
  });
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
