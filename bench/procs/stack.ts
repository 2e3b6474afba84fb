/**
 * Every subgraph with its real databases, Redis and the embedded broker, in one child process of the harness
 * (`startTestStack`: its own databases and keys, removed on stop). Seeds what the benchmark queries read: a
 * shopper who is also a merchant (so `merchant { name }` on their products is theirs to read), 60 products,
 * three orders and a cart with lines. Answers the harness over IPC: `ready` with everything another process
 * needs to join the stack (auth's signing key among it, so the load generator can mint buyers' access tokens),
 * `count` with the SQL statements every subgraph ran since the last `count`, the flash-sale scenario's
 * `flashsale:sale` and `flashsale:settled` (bench/flashsale-harness.ts), and `profile:start` / `profile:stop`.
 */
import { randomBytes } from 'node:crypto';
import type { SubgraphName } from '@mall/platform';
import { startTestStack } from '@mall/stack/testing';
import { generatePrivateKeyPem } from '../../subgraphs/auth/data/signing-keys.ts';
import { BENCH_ADDRESS } from '../checkout-shop.ts';
import { type Message, serveParent } from '../lib.ts';
import { flashSaleDesk } from './flashsale-desk.ts';
import { selfProfiler } from './self-profile.ts';

const internalSecret = process.env['MALL_INTERNAL_SECRET'] ?? randomBytes(32).toString('base64url');
const accessTokenKey = process.env['AUTH_JWT_PRIVATE_KEY'] ?? generatePrivateKeyPem();
const statements: { subgraph: string; query: string }[] = [];
const stack = await startTestStack({
  env: {
    MALL_INTERNAL_SECRET: internalSecret,
    AUTH_JWT_PRIVATE_KEY: accessTokenKey,
    RATE_LIMIT_IP_PER_MINUTE: '0',
    RATE_LIMIT_USER_PER_MINUTE: '0',
    LOG_LEVEL: 'error',
  },
  onQuery: (subgraph: SubgraphName, event) => statements.push({ subgraph, query: event.query.slice(0, 300) }),
});

async function call<T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const r = await stack.gql<T>(query, variables, token ? { token } : {});
  if (r.body.errors?.length || !r.body.data) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(r.body.errors)}`);
  return r.body.data;
}

const LOGIN = 'mutation Login($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken user { id } } }';

async function seed(productCount: number) {
  const admin = (
    await call<{ login: { accessToken: string } }>(LOGIN, { e: stack.admin.email, p: stack.admin.password })
  ).login.accessToken;
  const email = 'bench-shopper@mall.test';
  const password = 'bench-password-1';
  const { register } = await call<{ register: { user: { id: string } } }>(
    'mutation Register($input: RegisterInput!) { register(input: $input) { user { id } } }',
    { input: { email, password, name: 'Bench Shopper' } },
  );
  await call(
    'mutation Assign($u: ID!) { assignRole(userId: $u, role: MERCHANT) { id } }',
    { u: register.user.id },
    admin,
  );
  // A fresh token carries the new role.
  const token = (await call<{ login: { accessToken: string } }>(LOGIN, { e: email, p: password })).login.accessToken;
  const productIds: string[] = [];
  for (let i = 0; i < productCount; i++) {
    const input = {
      name: `Bench item ${i}`,
      description: `Bench item ${i}, seeded.`,
      priceAmount: 990 + i * 37,
      stock: 1_000_000,
    };
    const { createProduct } = await call<{ createProduct: { id: string } }>(
      'mutation Create($input: CreateProductInput!) { createProduct(input: $input) { id } }',
      { input },
      token,
    );
    productIds.push(createProduct.id);
  }
  const add = (productId: string, quantity: number) =>
    call(
      'mutation Add($p: ID!, $q: Int!) { addToCart(productId: $p, quantity: $q) { itemCount } }',
      { p: productId, q: quantity },
      token,
    );
  const itemCount = async () =>
    (await call<{ me: { cart: { itemCount: number } } }>('{ me { cart { itemCount } } }', {}, token)).me.cart.itemCount;
  for (let order = 0; order < 3; order++) {
    for (let line = 0; line < 3; line++) await add(productIds[order * 3 + line]!, 1 + line);
    await call(
      'mutation Checkout($input: CheckoutInput!) { checkout(input: $input) { id } }',
      { input: { idempotencyKey: `bench-seed-${order}`, shippingAddress: BENCH_ADDRESS } },
      token,
    );
    // The cart empties when it sees order.created (Kafka); the next order's lines must not race that.
    const deadline = Date.now() + 30_000;
    while ((await itemCount()) !== 0) {
      if (Date.now() > deadline) throw new Error('the cart did not empty after checkout');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  for (let line = 0; line < 4; line++) await add(productIds[20 + line]!, 1 + (line % 2));
  return { userId: register.user.id, token, productIds };
}

const seeded = await seed(Number(process.env['BENCH_PRODUCTS'] ?? 60));
const flashSales = flashSaleDesk(stack);
const profiler = selfProfiler('stack');
serveParent(async (message: Message) => {
  if (message.type === 'count') {
    return { type: 'count', statements: statements.splice(0) };
  }
  return (await flashSales(message)) ?? (await profiler(message));
});
process.on('SIGTERM', () => {
  flashSales
    .close()
    .then(() => stack.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
});
const { config } = stack;
process.send?.({
  type: 'ready',
  internalSecret,
  routerUrl: stack.url,
  subgraphUrls: Object.fromEntries(Object.entries(stack.subgraphUrls).map(([name, url]) => [name, `${url}/graphql`])),
  configuredUrls: Object.fromEntries(Object.entries(config.subgraphs).map(([name, s]) => [name, s.url])),
  env: {
    DATABASE_URL: config.database.serverUrl,
    MALL_DB_PREFIX: config.database.prefix,
    REDIS_URL: config.redis.url,
    MALL_REDIS_PREFIX: config.redis.prefix,
    KAFKA_BROKERS: config.kafka.brokers?.join(','),
    MALL_DATA_DIR: config.dataDir,
  },
  seed: seeded,
  accessTokenKey,
});
