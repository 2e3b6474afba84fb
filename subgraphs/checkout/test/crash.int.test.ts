// A checkout process killed (SIGKILL) in the middle of its saga, then started again: its repair on start
// releases a reservation no order was asked for yet, and finishes an order placeOrder may have made. Checkout
// runs as its own process, called as the router calls it; a stand-in in front of product (or order) forwards
// the call and then never answers, so the kill lands exactly between two steps.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@mall/events/testing';
import { IdentitySigner, resolveInternalSecret } from '@mall/platform';
import { freePort, type GraphQLStubReply, type GraphQLStubRequest, startGraphQLStub } from '@mall/platform/testing';
import { postGraphQL, startTestStack, type TestStack } from '@mall/stack/testing';
import { ADDRESS, customer, inFlight, ORDERS, seller, startCartStub, stockOf } from './helpers.ts';

const CHECKOUT_MAIN = fileURLToPath(new URL('../index.ts', import.meta.url));
const CHECKOUT = 'mutation($input: CheckoutInput!) { checkout(input: $input) { id } }';
const WORKER_ID = '713';

/** Forwards every call to `target`; the first call whose query mentions `field` is forwarded, then left hanging. */
async function startHangingProxy(target: string, field: string) {
  let forwarded!: () => void;
  const hung = new Promise<void>((resolve) => {
    forwarded = resolve;
  });
  let hanging = true;
  const stub = await startGraphQLStub(async ({ query, variables, headers }: GraphQLStubRequest) => {
    const reply = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'mall-identity': String(headers['mall-identity']),
        'x-request-id': String(headers['x-request-id']),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await reply.json()) as GraphQLStubReply;
    if (hanging && query.includes(field)) {
      hanging = false;
      forwarded();
      return new Promise<never>(() => {});
    }
    return body;
  });
  return { url: `${stub.url}/graphql`, hung, close: () => stub.close() };
}

describe('a checkout process killed mid-saga', () => {
  let stack: TestStack;
  let cart: Awaited<ReturnType<typeof startCartStub>>;
  let shop: Awaited<ReturnType<typeof seller>>;
  let child: ChildProcess | undefined;

  before(async () => {
    cart = await startCartStub();
    stack = await startTestStack({ subgraphs: ['user', 'auth', 'product', 'order'] });
    shop = await seller(stack);
  });
  after(async () => {
    await stop();
    await stack?.close();
    await cart?.close();
  });

  async function start(peers: { product: string; order: string; cart?: string }): Promise<string> {
    const port = await freePort();
    const { config } = stack;
    child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', CHECKOUT_MAIN], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'error',
        HOST: '127.0.0.1',
        DATABASE_URL: config.database.serverUrl,
        MALL_DB_PREFIX: config.database.prefix,
        REDIS_URL: config.redis.url,
        MALL_REDIS_PREFIX: config.redis.prefix,
        MALL_DATA_DIR: config.dataDir,
        KAFKA_BROKERS: `127.0.0.1:${config.kafka.embeddedBrokerPort}`,
        METRICS_PORT_OFFSET: '0',
        MALL_WORKER_ID: WORKER_ID,
        CHECKOUT_PORT: String(port),
        CART_URL: peers.cart ?? `${cart.url}/graphql`,
        PRODUCT_URL: peers.product,
        ORDER_URL: peers.order,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/health/ready`)).ok, { timeoutMs: 60_000, what: 'checkout ready' });
    return `${url}/graphql`;
  }

  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  /** The router's call for a signed-in user. */
  async function checkoutAs(url: string, userId: string, idempotencyKey: string) {
    const requestId = randomUUID();
    const token = await new IdentitySigner(await resolveInternalSecret(stack.config), 'router').sign({
      userId,
      roles: ['CUSTOMER'],
      requestId,
      audience: 'checkout',
    });
    return postGraphQL<{ checkout: { id: string } }>(
      url,
      CHECKOUT,
      { input: { idempotencyKey, shippingAddress: ADDRESS } },
      { headers: { 'mall-identity': token, 'x-request-id': requestId } },
    );
  }

  const productUrl = () => `${stack.subgraphUrls['product']}/graphql`;
  const orderUrl = () => `${stack.subgraphUrls['order']}/graphql`;

  test('killed right after claiming the key, before reserving: the restart ends it, and a retry with the key orders once', async () => {
    const p = await shop.product({ stock: 5 });
    const caller = await customer(stack);
    cart.carts.set(caller.id, [{ productId: p.id, quantity: 2 }]);
    // The key is claimed (with its attempt, in one statement) before the cart is read.
    const proxy = await startHangingProxy(`${cart.url}/graphql`, 'checkoutCart');
    const url = await start({ product: productUrl(), order: orderUrl(), cart: proxy.url });
    const pending = checkoutAs(url, caller.id, 'crash-0').catch(() => null);
    await proxy.hung;
    assert.deepEqual(await inFlight(stack), { attempts: 1, pendingKeys: 1 }, 'the claim recorded its attempt');
    await stop();
    assert.equal(await pending, null);
    await proxy.close();

    // Without the attempt the key would stay pending (CONFLICT) until it counted as abandoned.
    const restarted = await start({ product: productUrl(), order: orderUrl() });
    assert.deepEqual(await inFlight(stack), { attempts: 0, pendingKeys: 0 }, 'the repair on start ended it');
    const retry = await checkoutAs(restarted, caller.id, 'crash-0');
    assert.ok(retry.body.data?.checkout.id, JSON.stringify(retry.body.errors));
    assert.equal(await stockOf(stack, p.id), 3);
    const orders = await stack.gql<{ orders: { totalCount: number } }>(ORDERS, {}, { token: caller.token });
    assert.equal(orders.body.data?.orders.totalCount, 1);
    await stop();
  });

  test('killed after reserving: the restart releases the stock, and a retry with the key orders once', async () => {
    const p = await shop.product({ stock: 5 });
    const caller = await customer(stack);
    cart.carts.set(caller.id, [{ productId: p.id, quantity: 2 }]);
    const proxy = await startHangingProxy(productUrl(), 'reserveStock');
    const url = await start({ product: proxy.url, order: orderUrl() });
    const pending = checkoutAs(url, caller.id, 'crash-1').catch(() => null);
    await proxy.hung;
    assert.equal(await stockOf(stack, p.id), 3, 'the reservation is held when the process dies');
    await stop();
    assert.equal(await pending, null);
    await proxy.close();

    const restarted = await start({ product: productUrl(), order: orderUrl() });
    assert.equal(await stockOf(stack, p.id), 5, 'the repair on start released it');
    const retry = await checkoutAs(restarted, caller.id, 'crash-1');
    assert.ok(retry.body.data?.checkout.id, JSON.stringify(retry.body.errors));
    assert.equal(await stockOf(stack, p.id), 3);
    const orders = await stack.gql<{ orders: { totalCount: number } }>(ORDERS, {}, { token: caller.token });
    assert.equal(orders.body.data?.orders.totalCount, 1);
    await stop();
  });

  test('killed while placing the order: the restart finishes that order, and a retry answers it', async () => {
    const p = await shop.product({ stock: 5 });
    const caller = await customer(stack);
    cart.carts.set(caller.id, [{ productId: p.id, quantity: 1 }]);
    const proxy = await startHangingProxy(orderUrl(), 'placeOrder');
    const url = await start({ product: productUrl(), order: proxy.url });
    const pending = checkoutAs(url, caller.id, 'crash-2').catch(() => null);
    await proxy.hung;
    await stop();
    assert.equal(await pending, null);
    await proxy.close();

    const restarted = await start({ product: productUrl(), order: orderUrl() });
    const orders = await stack.gql<{ orders: { totalCount: number; edges: { node: { id: string } }[] } }>(
      ORDERS,
      {},
      { token: caller.token },
    );
    assert.equal(orders.body.data?.orders.totalCount, 1);
    const retry = await checkoutAs(restarted, caller.id, 'crash-2');
    assert.equal(retry.body.data?.checkout.id, orders.body.data?.orders.edges[0]?.node.id);
    assert.equal(await stockOf(stack, p.id), 4, 'one order holds one unit');
    await stop();
  });
});
