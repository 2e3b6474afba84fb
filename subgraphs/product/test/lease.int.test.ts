// The reservation lease, on a stack whose product subgraph leases for one second and sweeps every second.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '@mall/events/testing';
import { domainDatabaseUrl } from '@mall/platform';
import { data } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import pg from 'pg';
import {
  type Caller,
  COMMIT,
  createProduct,
  direct,
  merchant,
  nextOrderId,
  PRODUCT,
  RESERVE,
  signIn,
} from './helpers.ts';

const LEASE_SECONDS = 1;
let stack: TestStack;
let db: pg.Client;
let shop: Caller;

before(async () => {
  stack = await startTestStack({
    subgraphs: ['user', 'auth', 'product'],
    subgraphOptions: { product: { reservationLeaseSeconds: LEASE_SECONDS, sweepIntervalSeconds: 1 } },
  });
  db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'product') });
  await db.connect();
  shop = await merchant(stack, await signIn(stack, stack.admin.email, stack.admin.password));
});

after(async () => {
  await db?.end();
  await stack?.close();
});

async function stockOf(productId: string): Promise<number> {
  return data<{ stock: number }>(await stack.gql(PRODUCT, { id: productId }), 'product').stock;
}

test('an unconfirmed reservation expires by itself, its stock returns once, and a late commit changes nothing', async () => {
  const product = await createProduct(stack, shop, { name: 'Leased', stock: 3 });
  const orderId = nextOrderId();
  const held = data<{ expiresAt: string }>(
    await direct(stack, RESERVE, { orderId, lines: [{ productId: product.id, quantity: 3 }] }),
    'reserveStock',
  );
  assert.ok(Date.parse(held.expiresAt) - Date.now() <= LEASE_SECONDS * 1000);
  assert.equal(await stockOf(product.id), 0);
  await waitFor(async () => (await stockOf(product.id)) === 3, { what: 'the lease released the stock' });
  const { rows } = await db.query('SELECT status, reason FROM reservations WHERE order_id = $1', [orderId]);
  assert.deepEqual(rows[0], { status: 'RELEASED', reason: 'EXPIRED' });
  const events = await db.query(
    "SELECT payload->'data'->>'reason' AS reason FROM outbox WHERE type = 'stock.released'",
  );
  assert.deepEqual(events.rows, [{ reason: 'EXPIRED' }]);

  assert.equal(
    data<{ status: string }>(await direct(stack, COMMIT, { orderId }), 'commitReservation').status,
    'RELEASED',
  );
  assert.equal(await stockOf(product.id), 3);
  const { rows: levels } = await db.query('SELECT available, reserved FROM products WHERE id = $1', [product.id]);
  assert.deepEqual(levels[0], { available: 3, reserved: 0 });
});
