// The cart with the product subgraph out of reach (behind a fault proxy the test cuts): what needs no prices keeps
// working, what needs them is UNAVAILABLE (retryable), never a 500, and nothing changes by halves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { data, errorCode, type FaultProxy, freePort, startFaultProxy } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { admin, type Caller, customer } from '../../order/test/helpers.ts';
import { createProduct, merchant } from '../../product/test/helpers.ts';
import { ADD_TO_CART, CART, REMOVE_FROM_CART } from './helpers.ts';

let stack: TestStack;
let productLink: FaultProxy;
let shop: Caller;

before(async () => {
  const productPort = await freePort();
  productLink = await startFaultProxy({ port: productPort });
  stack = await startTestStack({
    subgraphs: ['user', 'auth', 'product', 'cart'],
    env: { PRODUCT_PORT: String(productPort), PRODUCT_URL: `http://127.0.0.1:${productLink.port}/graphql` },
  });
  shop = await merchant(stack, await admin(stack));
});

after(async () => {
  await stack?.close();
  await productLink?.close();
});

test('catalog down: itemCount and removal still work, pricing and adding are UNAVAILABLE', async () => {
  const ada = await customer(stack);
  const tea = await createProduct(stack, shop, { name: 'Tea', priceAmount: 1000 });
  const cup = await createProduct(stack, shop, { name: 'Cup', priceAmount: 300 });
  const add = (productId: string) => stack.gql(ADD_TO_CART, { productId, quantity: 2 }, { token: ada.token });
  data(await add(tea.id));
  data(await add(cup.id));

  productLink.cut();
  try {
    const count = await stack.gql('query { cart { itemCount } }', {}, { token: ada.token });
    assert.deepEqual(data(count), { cart: { itemCount: 4 } });
    assert.equal(errorCode(await stack.gql(CART, {}, { token: ada.token })), 'UNAVAILABLE');
    assert.equal(errorCode(await add(tea.id)), 'UNAVAILABLE');
    const removed = await stack.gql(REMOVE_FROM_CART, { productId: cup.id }, { token: ada.token });
    assert.deepEqual(data(removed), { removeFromCart: { itemCount: 2 } });
  } finally {
    productLink.restore();
  }
  const cart = data<{ cart: { itemCount: number; subtotal: { amount: number } } }>(
    await stack.gql(CART, {}, { token: ada.token }),
  ).cart;
  // The refused add left the tea line as it was.
  assert.equal(cart.itemCount, 2);
  assert.equal(cart.subtotal.amount, 2000);
});
