// What both order test files need: customers through the router, orders placed as checkout would, the
// order database, and the service itself for the transitions no public operation makes yet (payment).
import { randomBytes } from 'node:crypto';
import {
  createLogger,
  createPrismaClient,
  defineServiceOperation,
  domainDatabaseUrl,
  IdentitySigner,
  resolveInternalSecret,
  ServiceClient,
  SnowflakeGenerator,
} from '@mall/platform';
import { data } from '@mall/platform/testing';
import type { TestStack } from '@mall/stack/testing';
import { z } from 'zod';
import { PrismaClient } from '../data/generated/client.ts';
import { OrderService } from '../service.ts';

export const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`;

export interface Caller {
  readonly id: string;
  readonly token: string;
}

export async function customer(stack: TestStack): Promise<Caller> {
  const input = { email: `o-${randomBytes(5).toString('hex')}@example.com`, password: 'password-123' };
  const { register } = data<{ register: { accessToken: string; user: { id: string } } }>(
    await stack.gql(REGISTER, { input }),
  );
  return { id: register.user.id, token: register.accessToken };
}

export async function admin(stack: TestStack): Promise<Caller> {
  const { login } = data<{ login: { accessToken: string; user: { id: string } } }>(
    await stack.gql(LOGIN, { email: stack.admin.email, password: stack.admin.password }),
  );
  return { id: login.user.id, token: login.accessToken };
}

export const ADDRESS = {
  recipient: 'Ada Lovelace',
  phone: '+86 138 0000 0000',
  line1: '1 Nanjing Road',
  city: 'Shanghai',
  country: 'CN',
};

export interface PlacedOrder {
  readonly id: string;
  readonly number: string;
  readonly status: string;
  readonly total: { readonly amount: number; readonly currency: string };
  readonly expiresAt: string;
}

const placeOrderOperation = defineServiceOperation<{ input: Record<string, unknown> }, { placeOrder: PlacedOrder }>(
  `mutation PlaceOrder($input: PlaceOrderInput!) {
     placeOrder(input: $input) { id number status total { amount currency } expiresAt }
   }`,
  z.object({
    placeOrder: z.object({
      id: z.string(),
      number: z.string(),
      status: z.string(),
      total: z.object({ amount: z.number(), currency: z.string() }),
      expiresAt: z.string(),
    }),
  }),
);

const ids = new SnowflakeGenerator({ workerId: 1000 });
export const nextOrderId = (): string => String(ids.next());

/** Calls the order subgraph's internal placeOrder directly, signed as `issuer` (checkout by default). */
export async function placeOrder(
  stack: TestStack,
  input: Record<string, unknown>,
  options: { issuer?: string; url?: string } = {},
): Promise<PlacedOrder> {
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), options.issuer ?? 'checkout');
  const client = new ServiceClient({ url: options.url ?? stack.subgraphUrls['order']!, target: 'order', signer });
  return (await placeOrderOperation(client, { requestId: `test-${randomBytes(4).toString('hex')}` }, { input }))
    .placeOrder;
}

/** A valid placeOrder input for `userId`: two lines, 2 × 1999 + 1 × 500 = 4498 CNY. */
export function orderInput(userId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    orderId: nextOrderId(),
    userId,
    lines: [
      { productId: '1001', quantity: 2, unitPriceAmount: 1999, currency: 'CNY', name: 'Tea cup' },
      { productId: '1002', quantity: 1, unitPriceAmount: 500, currency: 'CNY', name: 'Saucer' },
    ],
    shippingAddress: ADDRESS,
    note: 'Leave at the door',
    ...overrides,
  };
}

/** The stack's order database through the subgraph's own client and service, for what no API does yet. */
export function orderService(stack: TestStack) {
  const prisma = createPrismaClient(PrismaClient, {
    url: domainDatabaseUrl(stack.config, 'order'),
    poolSize: 2,
    logger: createLogger({ service: 'order-test', level: 'silent' }),
    applicationName: 'order-test',
  });
  const service = new OrderService({
    prisma,
    redis: stack.redis,
    ids,
    // The test's service never schedules: the stack's instances own the queue.
    expiry: { schedule: async () => {} },
    settings: { paymentTimeoutSeconds: 900 },
    logger: createLogger({ service: 'order-test', level: 'silent' }),
  });
  return { prisma, service };
}
