// Live order status over graphql-ws through the router, as a frontend subscribes: the token in connection_init,
// the current status first, then each transition the order subgraph publishes on order.events.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger, type RunningService, resolveInternalSecret } from '@mall/platform';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import { WebSocket } from 'ws';
import {
  admin,
  type Caller,
  customer,
  orderInput,
  orderService,
  placeOrder,
} from '../../subgraphs/order/test/helpers.ts';
import { startRouter } from '../src/index.ts';
import { generateSigningKey, signAccessToken, startJwksServer } from './helpers.ts';

// The contract's operation (../shared/contract/operations.graphql) plus Order fields resolved through the supergraph.
const ORDER_STATUS = `subscription OrderStatus($orderId: ID!) {
  orderStatusChanged(orderId: $orderId) {
    orderId status previousStatus at reason
    order { number total { amount currency } items { quantity } }
  }
}`;
const LOGOUT = `mutation Logout { logout }`;
const SHIP = `mutation Ship($id: ID!) { shipOrder(id: $id) { id status } }`;

type Update = {
  orderStatusChanged: {
    orderId: string;
    status: string;
    previousStatus: string | null;
    reason: string | null;
    order: { number: string; total: { amount: number } };
  };
};

const wsUrl = (httpUrl: string) => `${httpUrl.replace(/^http/, 'ws').replace(/\/graphql$/, '')}/graphql`;

/** A graphql-ws client that never retries, and the close event that ended it, if any. */
function connect(url: string, token: string | undefined) {
  let resolveClosed: (code: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  const client: Client = createClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (event) => resolveClosed((event as { code: number }).code) },
    onNonLazyError: () => undefined,
  });
  return { client, closed };
}

function subscribe(client: Client, orderId: string): AsyncIterableIterator<FormattedExecutionResult<Update, unknown>> {
  return client.iterate<Update>({ query: ORDER_STATUS, variables: { orderId } });
}

async function nextUpdate(updates: AsyncIterableIterator<FormattedExecutionResult<Update, unknown>>) {
  const { value, done } = await updates.next();
  assert.equal(done, false);
  assert.equal(value?.errors, undefined, JSON.stringify(value?.errors));
  const update = value?.data?.orderStatusChanged;
  assert.ok(update);
  return update;
}

let stack: TestStack;
let boss: Caller;
let orders: ReturnType<typeof orderService>;

before(async () => {
  // A short sweep, so a logout closes the socket well within the test's patience.
  stack = await startTestStack({
    subgraphs: ['user', 'auth', 'order'],
    env: { SUBSCRIPTION_REVOCATION_SWEEP_MS: '100' },
  });
  boss = await admin(stack);
  orders = orderService(stack);
});

after(async () => {
  await orders?.prisma.$disconnect();
  await stack?.close();
});

describe('orderStatusChanged', () => {
  test('the owner sees PENDING_PAYMENT first, then PAID within a second of the payment, then SHIPPED', async () => {
    const owner = await customer(stack);
    const order = await placeOrder(stack, orderInput(owner.id));
    const { client } = connect(stack.url, owner.token);
    try {
      const updates = subscribe(client, order.id);
      const first = await nextUpdate(updates);
      assert.equal(first.orderId, order.id);
      assert.equal(first.status, 'PENDING_PAYMENT');
      assert.equal(first.previousStatus, null);
      assert.equal(first.order.number, order.number);
      assert.equal(first.order.total.amount, 4498);

      const paidAt = performance.now();
      await orders.service.markPaid(BigInt(order.id), { paymentId: '901', requestId: 'test-sub-pay' });
      const paid = await nextUpdate(updates);
      const latencyMs = performance.now() - paidAt;
      assert.equal(paid.status, 'PAID');
      assert.equal(paid.previousStatus, 'PENDING_PAYMENT');
      assert.ok(latencyMs < 1_000, `PAID arrived ${latencyMs.toFixed(0)} ms after the payment`);

      const shipped = await stack.gql(SHIP, { id: order.id }, { token: boss.token });
      assert.equal(shipped.body.errors, undefined);
      const third = await nextUpdate(updates);
      assert.equal(third.status, 'SHIPPED');
      await updates.return?.();
    } finally {
      await client.dispose();
    }
  });

  test("someone else's order is refused with the protocol's error message (NOT_FOUND); an ADMIN may watch it", async () => {
    const owner = await customer(stack);
    const stranger = await customer(stack);
    const order = await placeOrder(stack, orderInput(owner.id));
    const { client } = connect(stack.url, stranger.token);
    const { client: adminClient } = connect(stack.url, boss.token);
    try {
      await assert.rejects(subscribe(client, order.id).next(), (errors: unknown) => {
        assert.ok(Array.isArray(errors), 'an error message, not a close');
        assert.equal((errors[0] as { extensions?: { code?: string } }).extensions?.code, 'NOT_FOUND');
        return true;
      });
      const watched = await nextUpdate(subscribe(adminClient, order.id));
      assert.equal(watched.status, 'PENDING_PAYMENT');
    } finally {
      await client.dispose();
      await adminClient.dispose();
    }
  });

  test('a bad or missing token, a query over the socket and a subscription over HTTP are refused', async () => {
    const bad = connect(stack.url, 'not-a-jwt');
    assert.equal(await bad.closed, 4403);

    const anonymous = connect(stack.url, undefined);
    try {
      await assert.rejects(subscribe(anonymous.client, '1').next(), (errors: unknown) => {
        assert.equal((errors as { extensions?: { code?: string } }[])[0]?.extensions?.code, 'UNAUTHENTICATED');
        return true;
      });
      await assert.rejects(anonymous.client.iterate({ query: '{ __typename }' }).next(), (errors: unknown) => {
        assert.equal((errors as { extensions?: { code?: string } }[])[0]?.extensions?.code, 'BAD_REQUEST');
        return true;
      });
    } finally {
      await anonymous.client.dispose();
    }

    const overHttp = await stack.gql(ORDER_STATUS, { orderId: '1' });
    assert.equal(overHttp.status, 400);
    assert.equal(overHttp.body.errors?.[0]?.extensions?.code, 'BAD_REQUEST');
  });
});

describe('metrics', () => {
  test("active subscriptions, subgraph fetches, and the refetches under the subscription's operation name", async () => {
    const owner = await customer(stack);
    const order = await placeOrder(stack, orderInput(owner.id));
    const { client } = connect(stack.url, owner.token);
    try {
      await nextUpdate(subscribe(client, order.id));
      const metricsUrl = stack.metricsUrls['router'];
      assert.ok(metricsUrl);
      const metrics = await (await fetch(metricsUrl)).text();
      const active = Number(/^router_active_subscriptions\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(active >= 1, `router_active_subscriptions ${active}`);
      assert.match(metrics, /router_subgraph_fetch_duration_seconds_count\{[^}]*subgraph="order"[^}]*\} [1-9]/);
      assert.match(metrics, /graphql_requests_total\{[^}]*operation="OrderStatus"[^}]*\} [1-9]/);
    } finally {
      await client.dispose();
    }
  });
});

describe('replicas and tokens', () => {
  const logger = createLogger({ service: 'router-test', level: 'silent' });
  const routers: RunningService[] = [];
  after(async () => {
    for (const router of routers) await router.stop();
  });
  const replica = async (subgraphUrls?: Record<string, string>) => {
    const router = await startRouter(
      {
        config: stack.config,
        logger,
        internalSecret: await resolveInternalSecret(stack.config),
        redis: stack.redis,
      },
      { port: 0, ...(subgraphUrls ? { subgraphUrls } : {}) },
    );
    routers.push(router);
    return router;
  };

  test('a subscription survives a replica being added, and the new replica serves the same order', async () => {
    const owner = await customer(stack);
    const order = await placeOrder(stack, orderInput(owner.id));
    const { client } = connect(stack.url, owner.token);
    try {
      const updates = subscribe(client, order.id);
      assert.equal((await nextUpdate(updates)).status, 'PENDING_PAYMENT');
      const second = await replica();
      const { client: other } = connect(second.url, owner.token);
      try {
        const elsewhere = subscribe(other, order.id);
        assert.equal((await nextUpdate(elsewhere)).status, 'PENDING_PAYMENT');
        await orders.service.markPaid(BigInt(order.id), { paymentId: '902', requestId: 'test-sub-replica' });
        assert.equal((await nextUpdate(updates)).status, 'PAID');
        assert.equal((await nextUpdate(elsewhere)).status, 'PAID');
      } finally {
        await other.dispose();
      }
    } finally {
      await client.dispose();
    }
  });

  test('an expired token is refused at connection_init, and a token that expires closes the socket with 4403', async () => {
    // A router whose auth key set is the test's own, so the test can sign tokens that expire when it wants.
    const key = await generateSigningKey('ES256');
    const jwks = await startJwksServer([key.publicJwk]);
    try {
      const router = await replica({ auth: `${jwks.url}/graphql` });
      const owner = await customer(stack);
      const now = Math.floor(Date.now() / 1000);
      const expired = await signAccessToken(key, { sub: owner.id, iat: now - 120, exp: now - 60 });
      assert.equal(await connect(router.url, expired).closed, 4403);

      const order = await placeOrder(stack, orderInput(owner.id));
      const shortLived = await signAccessToken(key, { sub: owner.id, iat: now, exp: now + 2 });
      const live = connect(router.url, shortLived);
      try {
        assert.equal((await nextUpdate(subscribe(live.client, order.id))).status, 'PENDING_PAYMENT');
        assert.equal(await live.closed, 4403);
      } finally {
        await live.client.dispose();
      }
    } finally {
      await jwks.stop();
    }
  });

  test('logging out closes an open subscription socket with 4403', async () => {
    const owner = await customer(stack);
    const order = await placeOrder(stack, orderInput(owner.id));
    const live = connect(stack.url, owner.token);
    try {
      assert.equal((await nextUpdate(subscribe(live.client, order.id))).status, 'PENDING_PAYMENT');
      const loggedOut = await stack.gql<{ logout: boolean }>(LOGOUT, {}, { token: owner.token });
      assert.equal(loggedOut.body.data?.logout, true, JSON.stringify(loggedOut.body.errors));
      assert.equal(await live.closed, 4403);
    } finally {
      await live.client.dispose();
    }
  });
});
