// The catalog through the router, as a frontend and a merchant use it: real Postgres, Redis, broker, user, auth
// and router. Categories, products, ownership, the listing, bad input, batching and the product cache.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { data, errorCode } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { seedCatalog } from '../../../scripts/seed.ts';
import {
  ADJUST_STOCK,
  type Caller,
  CREATE_CATEGORY,
  CREATE_PRODUCT,
  createProduct,
  customer,
  direct,
  merchant,
  PRODUCT,
  PRODUCTS,
  type ProductsView,
  productEntities,
  signIn,
  startProductInstance,
} from './helpers.ts';

let stack: TestStack;
let admin: Caller;
let shop: Caller;

const UPDATE_PRODUCT = `mutation UpdateProduct($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) { id name description price { amount currency } }
}`;
const DELETE_PRODUCT = `mutation DeleteProduct($id: ID!) { deleteProduct(id: $id) }`;
const CATEGORIES = `query Categories { categories { id name slug children { id name } } }`;
const UPDATE_CATEGORY = `mutation UpdateCategory($id: ID!, $input: UpdateCategoryInput!) { updateCategory(id: $id, input: $input) { id slug parent { id } } }`;
const DELETE_CATEGORY = `mutation DeleteCategory($id: ID!) { deleteCategory(id: $id) }`;

async function category(name: string, parentId?: string): Promise<{ id: string; slug: string }> {
  return data(
    await stack.gql(CREATE_CATEGORY, { input: { name, ...(parentId ? { parentId } : {}) } }, { token: shop.token }),
    'createCategory',
  );
}

async function list(variables: Record<string, unknown>): Promise<ProductsView> {
  return data(await stack.gql(PRODUCTS, variables), 'products');
}

/** Every page of a listing, following endCursor; `between` runs after each page (to insert rows meanwhile). */
async function allPages(variables: Record<string, unknown>, between?: () => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page: ProductsView = await list({ ...variables, after });
    ids.push(...page.edges.map((e) => e.node.id));
    if (!page.pageInfo.hasNextPage) return ids;
    after = page.pageInfo.endCursor;
    await between?.();
  }
}

before(async () => {
  stack = await startTestStack({ subgraphs: ['user', 'auth', 'product'] });
  admin = await signIn(stack, stack.admin.email, stack.admin.password);
  shop = await merchant(stack, admin);
});

after(async () => {
  await stack?.close();
});

describe('npm run seed', () => {
  test('fills a fresh stack with the demo catalog through the router; a second run changes nothing', async () => {
    assert.deepEqual(await seedCatalog(stack.url, stack.admin), {
      categoriesCreated: 16,
      productsCreated: 48,
      products: 48,
    });
    assert.deepEqual(await seedCatalog(stack.url, stack.admin), {
      categoriesCreated: 0,
      productsCreated: 0,
      products: 48,
    });
    const electronics = data<{ id: string }>(
      await stack.gql('query { category(slug: "electronics") { id } }'),
      'category',
    );
    assert.equal((await list({ filter: { categoryId: electronics.id } })).totalCount, 12);
  });
});

describe('the contract operations through the router', () => {
  test('create, read, update, adjust and delete a product in a category', async () => {
    const created = data<{ id: string; name: string; slug: string; parent: null }>(
      await stack.gql(CREATE_CATEGORY, { input: { name: 'Phones & Tablets' } }, { token: shop.token }),
      'createCategory',
    );
    assert.equal(created.slug, 'phones-tablets');
    assert.equal(created.parent, null);
    const roots = data<{ id: string; children: unknown[] }[]>(await stack.gql(CATEGORIES), 'categories');
    assert.ok(roots.some((c) => c.id === created.id));

    const product = await createProduct(stack, shop, {
      name: 'Pocket phone',
      priceAmount: 199_900,
      stock: 5,
      categoryIds: [created.id],
      imageUrl: 'https://img.example.com/p.png',
    });
    assert.deepEqual(product.price, { amount: 199_900, currency: 'CNY' });
    assert.deepEqual(product.categories, [{ id: created.id }]);

    const read = data<{ stock: number; categories: { name: string }[] }>(
      await stack.gql(PRODUCT, { id: product.id }),
      'product',
    );
    assert.equal(read.stock, 5);
    assert.deepEqual(
      read.categories.map((c) => c.name),
      ['Phones & Tablets'],
    );

    const updated = data<{ name: string; description: string; price: { amount: number; currency: string } }>(
      await stack.gql(
        UPDATE_PRODUCT,
        {
          id: product.id,
          input: { name: 'Pocket phone 2', description: 'Faster', priceAmount: 2_000, currency: 'USD' },
        },
        { token: shop.token },
      ),
      'updateProduct',
    );
    assert.deepEqual(updated, {
      id: product.id,
      name: 'Pocket phone 2',
      description: 'Faster',
      price: { amount: 2_000, currency: 'USD' },
    });
    const adjusted = data<{ stock: number }>(
      await stack.gql(ADJUST_STOCK, { productId: product.id, delta: -2 }, { token: shop.token }),
      'adjustStock',
    );
    assert.equal(adjusted.stock, 3);

    assert.equal(
      data(await stack.gql(DELETE_PRODUCT, { id: product.id }, { token: shop.token }), 'deleteProduct'),
      true,
    );
    assert.equal(errorCode(await stack.gql(PRODUCT, { id: product.id })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(DELETE_PRODUCT, { id: product.id }, { token: shop.token })), 'NOT_FOUND');
    const listed = await list({ filter: { categoryId: created.id } });
    assert.equal(listed.totalCount, 0, 'a deleted product leaves listings');
  });

  test('Product.merchant is the User who created it, resolved by the user subgraph', async () => {
    const product = await createProduct(stack, shop, { name: 'Merchant-owned lamp' });
    const result = await stack.gql<{ product: { merchant: { id: string; email: string } } }>(
      'query($id: ID!) { product(id: $id) { merchant { id email } } }',
      { id: product.id },
      { token: admin.token },
    );
    assert.equal(data(result, 'product').merchant.id, shop.id);
    // Anyone sees who sells it; the account's own fields stay the user subgraph's to guard.
    const anonymous = await stack.gql<{ product: { merchant: { id: string } } }>(
      'query($id: ID!) { product(id: $id) { merchant { id } } }',
      { id: product.id },
    );
    assert.equal(data(anonymous, 'product').merchant.id, shop.id);
    const buyer = await customer(stack);
    const nosy = await stack.gql<{ product: { name: string; merchant: null } }>(
      'query($id: ID!) { product(id: $id) { name merchant { email } } }',
      { id: product.id },
      { token: buyer.token },
    );
    assert.deepEqual(nosy.body.data?.product, { name: 'Merchant-owned lamp', merchant: null });
  });
});

describe('who may write the catalog', () => {
  test('a customer or an anonymous caller cannot; a merchant changes only its own products; an ADMIN any', async () => {
    const buyer = await customer(stack);
    const rival = await merchant(stack, admin);
    assert.equal(
      errorCode(await stack.gql(CREATE_PRODUCT, { input: { name: 'x', priceAmount: 1, stock: 1 } })),
      'UNAUTHENTICATED',
    );
    assert.equal(
      errorCode(
        await stack.gql(CREATE_PRODUCT, { input: { name: 'x', priceAmount: 1, stock: 1 } }, { token: buyer.token }),
      ),
      'FORBIDDEN',
    );
    assert.equal(
      errorCode(await stack.gql(CREATE_CATEGORY, { input: { name: 'x' } }, { token: buyer.token })),
      'FORBIDDEN',
    );

    const mine = await createProduct(stack, shop, { name: 'Mine', stock: 4 });
    for (const [query, variables] of [
      [UPDATE_PRODUCT, { id: mine.id, input: { name: 'Stolen' } }],
      [ADJUST_STOCK, { productId: mine.id, delta: -4 }],
      [DELETE_PRODUCT, { id: mine.id }],
    ] as const) {
      assert.equal(errorCode(await stack.gql(query, variables, { token: rival.token })), 'FORBIDDEN', query);
      assert.equal(errorCode(await stack.gql(query, variables, { token: buyer.token })), 'FORBIDDEN', query);
    }
    const read = data<{ name: string; stock: number }>(await stack.gql(PRODUCT, { id: mine.id }), 'product');
    assert.deepEqual([read.name, read.stock], ['Mine', 4]);
    assert.equal(
      data<{ name: string }>(
        await stack.gql(UPDATE_PRODUCT, { id: mine.id, input: { name: 'Renamed by admin' } }, { token: admin.token }),
        'updateProduct',
      ).name,
      'Renamed by admin',
    );

    const theirs = await createProduct(stack, rival, { name: 'Theirs' });
    const byRival = await list({ filter: { merchantId: rival.id } });
    assert.deepEqual(
      byRival.edges.map((e) => e.node.id),
      [theirs.id],
    );
  });
});

describe('bad input is BAD_USER_INPUT, OUT_OF_STOCK or NOT_FOUND with details, never a 500', () => {
  test('product input', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'x', priceAmount: -1, stock: 1 }, 'priceAmount'],
      [{ name: '   ', priceAmount: 1, stock: 1 }, 'name'],
      [{ name: 'x'.repeat(10_000), priceAmount: 1, stock: 1 }, 'name'],
      [{ name: 'x', priceAmount: 1, stock: 1, currency: 'XYZ' }, 'currency'],
      [{ name: 'x', priceAmount: 1, stock: -5 }, 'stock'],
      [{ name: 'x', priceAmount: 1, stock: 1, categoryIds: ['123456789'] }, 'categoryIds'],
      [{ name: 'x', priceAmount: 1, stock: 1, categoryIds: ['not-an-id'] }, 'categoryIds'],
      [{ name: 'x', priceAmount: 1, stock: 1, imageUrl: 'javascript:alert(1)' }, 'imageUrl'],
    ];
    for (const [input, field] of cases) {
      const result = await stack.gql(CREATE_PRODUCT, { input }, { token: shop.token });
      assert.equal(result.status, 200, field);
      assert.equal(errorCode(result), 'BAD_USER_INPUT', field);
      const problems = result.body.errors?.[0]?.extensions?.['problems'] as { field: string }[];
      assert.ok(
        problems.some((p) => p.field === field),
        `${field}: ${JSON.stringify(problems)}`,
      );
    }
    // A non-integer price never reaches a resolver: GraphQL refuses the variable.
    const fractional = await stack.gql(
      CREATE_PRODUCT,
      { input: { name: 'x', priceAmount: 1.5, stock: 1 } },
      { token: shop.token },
    );
    assert.equal(errorCode(fractional), 'BAD_USER_INPUT');
  });

  test('listing, stock and ids', async () => {
    // The router's cost limit refuses a huge page before any subgraph sees it; the subgraph caps `first` at 100.
    const huge = await stack.gql(PRODUCTS, { first: 10_000 });
    assert.equal(errorCode(huge), 'GRAPHQL_VALIDATION_FAILED');
    assert.equal(huge.status, 400);
    const tooMany = await stack.gql(PRODUCTS, { first: 101 });
    assert.equal(errorCode(tooMany), 'BAD_USER_INPUT');
    assert.match(JSON.stringify(tooMany.body.errors?.[0]?.extensions), /"field":"first"/);
    assert.equal(errorCode(await stack.gql(PRODUCTS, { filter: { search: 'a'.repeat(1024) } })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(PRODUCTS, { filter: { minPrice: 10, maxPrice: 5 } })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(PRODUCTS, { filter: { categoryId: '123456789' } })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(PRODUCTS, { after: 'garbage' })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(PRODUCTS, { sort: 'RELEVANCE' })), 'BAD_USER_INPUT');
    const p = await createProduct(stack, shop, { name: 'Few', stock: 2 });
    const below = await stack.gql(ADJUST_STOCK, { productId: p.id, delta: -3 }, { token: shop.token });
    assert.equal(errorCode(below), 'BAD_USER_INPUT');
    assert.match(JSON.stringify(below.body.errors?.[0]?.extensions), /delta/);
    assert.equal(data<{ stock: number }>(await stack.gql(PRODUCT, { id: p.id }), 'product').stock, 2);
    assert.equal(errorCode(await stack.gql(PRODUCT, { id: '42' })), 'NOT_FOUND');
    assert.equal(errorCode(await stack.gql(PRODUCT, { id: 'nope' })), 'NOT_FOUND');
    assert.equal(
      errorCode(await stack.gql(ADJUST_STOCK, { productId: '42', delta: 1 }, { token: shop.token })),
      'NOT_FOUND',
    );
  });
});

describe('the category tree', () => {
  test('slugs, children, ancestors, cycles and deletion rules', async () => {
    const root = await category('Home');
    const again = await category('Home');
    assert.notEqual(again.slug, root.slug, 'a generated slug never collides');
    const kitchen = await category('Kitchen', root.id);
    const knives = await category('Knives', kitchen.id);
    const chinese = await category('厨房');
    assert.match(chinese.slug, /^c-[0-9a-z]+$/);

    const taken = await stack.gql(
      CREATE_CATEGORY,
      { input: { name: 'Other', slug: root.slug } },
      { token: shop.token },
    );
    assert.equal(errorCode(taken), 'CONFLICT');

    const view = data<{ slug: string; children: { id: string }[]; ancestors: { id: string }[] }>(
      await stack.gql(`query($slug: String) { category(slug: $slug) { slug children { id } ancestors { id } } }`, {
        slug: knives.slug,
      }),
      'category',
    );
    assert.deepEqual(
      view.ancestors.map((c) => c.id),
      [root.id, kitchen.id],
    );
    const tree = data<{ id: string; children: { id: string }[] }[]>(await stack.gql(CATEGORIES), 'categories');
    assert.deepEqual(
      tree.find((c) => c.id === root.id)?.children.map((c) => c.id),
      [kitchen.id],
    );

    for (const parentId of [root.id, knives.id]) {
      const cycle = await stack.gql(UPDATE_CATEGORY, { id: root.id, input: { parentId } }, { token: shop.token });
      assert.equal(errorCode(cycle), 'BAD_USER_INPUT', `root under ${parentId}`);
    }
    const moved = data<{ parent: { id: string } | null }>(
      await stack.gql(UPDATE_CATEGORY, { id: knives.id, input: { parentId: null } }, { token: shop.token }),
      'updateCategory',
    );
    assert.equal(moved.parent, null);

    await createProduct(stack, shop, { name: 'Pan', categoryIds: [kitchen.id] });
    assert.equal(
      errorCode(await stack.gql(DELETE_CATEGORY, { id: kitchen.id }, { token: shop.token })),
      'INVALID_STATE',
    );
    const withChild = await category('Garden');
    await category('Tools', withChild.id);
    assert.equal(
      errorCode(await stack.gql(DELETE_CATEGORY, { id: withChild.id }, { token: shop.token })),
      'INVALID_STATE',
    );
    assert.equal(
      data(await stack.gql(DELETE_CATEGORY, { id: knives.id }, { token: shop.token }), 'deleteCategory'),
      true,
    );
    assert.equal(errorCode(await stack.gql(DELETE_CATEGORY, { id: knives.id }, { token: shop.token })), 'NOT_FOUND');
  });
});

describe('the listing', () => {
  test('a category filter includes every sub-category, and pages never overlap or skip under inserts', async () => {
    const top = await category('Outdoor');
    const mid = await category('Camping', top.id);
    const leaf = await category('Tents', mid.id);
    const other = await category('Office');
    const expected = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const at = [top, mid, leaf][i % 3]!;
      expected.add((await createProduct(stack, shop, { name: `Outdoor item ${i}`, categoryIds: [at.id] })).id);
    }
    await createProduct(stack, shop, { name: 'Stapler', categoryIds: [other.id] });

    for (const sort of ['NEWEST', 'PRICE_ASC', 'PRICE_DESC', 'NAME']) {
      let inserted = 0;
      const seen = await allPages({ filter: { categoryId: top.id }, sort, first: 2 }, async () => {
        // New products appear while the client pages: they may or may not show, but nothing shifts.
        await createProduct(stack, shop, {
          name: `Late ${sort} ${inserted++}`,
          categoryIds: [leaf.id],
          priceAmount: 1000,
        });
      });
      assert.equal(new Set(seen).size, seen.length, `${sort}: no product twice`);
      for (const id of expected) assert.ok(seen.includes(id), `${sort}: ${id} not skipped`);
    }
    const count = (await list({ filter: { categoryId: mid.id } })).totalCount;
    assert.ok(count >= 6, 'Camping counts Tents too');
  });

  test('sorts, price range, in-stock, and search ranked by similarity', async () => {
    const c = await category('Sorting');
    const rows = [
      { name: 'Zebra mug', priceAmount: 300, stock: 0 },
      { name: 'Alpha mug', priceAmount: 100, stock: 1 },
      { name: 'Mug warmer deluxe', priceAmount: 200, stock: 1, description: 'keeps a mug warm' },
      { name: 'Tea kettle', priceAmount: 250, stock: 3, description: 'pairs with a mug' },
    ];
    for (const row of rows) await createProduct(stack, shop, { ...row, categoryIds: [c.id] });
    const names = async (variables: Record<string, unknown>) =>
      (await list({ ...variables, filter: { categoryId: c.id, ...(variables['filter'] as object) } })).edges.map(
        (e) => e.node.name,
      );
    assert.deepEqual(await names({ sort: 'PRICE_ASC' }), ['Alpha mug', 'Mug warmer deluxe', 'Tea kettle', 'Zebra mug']);
    assert.deepEqual(await names({ sort: 'PRICE_DESC' }), [
      'Zebra mug',
      'Tea kettle',
      'Mug warmer deluxe',
      'Alpha mug',
    ]);
    assert.deepEqual(await names({ sort: 'NAME' }), ['Alpha mug', 'Mug warmer deluxe', 'Tea kettle', 'Zebra mug']);
    assert.deepEqual(await names({ sort: 'NEWEST' }), ['Tea kettle', 'Mug warmer deluxe', 'Alpha mug', 'Zebra mug']);
    assert.deepEqual(await names({ sort: 'PRICE_ASC', filter: { minPrice: 150, maxPrice: 260 } }), [
      'Mug warmer deluxe',
      'Tea kettle',
    ]);
    assert.deepEqual(await names({ sort: 'NAME', filter: { inStock: true } }), [
      'Alpha mug',
      'Mug warmer deluxe',
      'Tea kettle',
    ]);
    const found = await names({ filter: { search: 'mug' } });
    assert.equal(found.length, 4, 'name and description matches');
    assert.equal(found.at(-1), 'Tea kettle', 'a description-only match ranks below name matches');
    assert.deepEqual(await names({ filter: { search: 'kettles' } }), ['Tea kettle'], 'a near word still matches');
    assert.deepEqual(await names({ filter: { search: 'warm' } }), ['Mug warmer deluxe'], 'a prefix matches');
    assert.deepEqual(await names({ filter: { search: '100%_' } }), [], 'nothing similar, nothing found');
  });
});

describe('federation batching', () => {
  test('100 product references cost one products query, and none once cached', async () => {
    const ids: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) => createProduct(stack, shop, { name: `Referenced ${batch * 10 + i}` })),
      );
      ids.push(...created.map((p) => p.id));
    }
    for (const id of ids) await stack.redis.del(`product:{${id}}`);

    const queries: string[] = [];
    const instance = await startProductInstance(stack, { onQuery: (event) => queries.push(event.query) });
    try {
      const productQueries = async () => {
        queries.length = 0;
        const found = await productEntities(stack, instance.url, ids, 'id name categories { id }');
        assert.deepEqual(
          found.map((p) => p.id),
          ids,
        );
        return queries.filter((q) => /FROM "public"\."products"/.test(q));
      };
      assert.equal((await productQueries()).length, 1, 'one query for 100 products');
      assert.equal(queries.length, 2, `plus one for all their categories: ${queries.join('\n')}`);
      assert.equal((await productQueries()).length, 0, 'served from the cache');
    } finally {
      await instance.stop();
    }
  });
});

describe('productsByIds (internal, for cart and checkout)', () => {
  const BY_IDS = `query ProductsByIds($ids: [ID!]!) {
    productsByIds(ids: $ids) { id name price { amount currency } active deleted stock }
  }`;
  const UPDATE = `mutation UpdateProduct($id: ID!, $input: UpdateProductInput!) { updateProduct(id: $id, input: $input) { id } }`;
  const DELETE = `mutation DeleteProduct($id: ID!) { deleteProduct(id: $id) }`;

  test('answers in the order asked, null for unknown ids, inactive and deleted ones flagged', async () => {
    const live = await createProduct(stack, shop, { name: 'Live', priceAmount: 1200, stock: 7 });
    const resting = await createProduct(stack, shop, { name: 'Resting' });
    const gone = await createProduct(stack, shop, { name: 'Gone' });
    data(await stack.gql(UPDATE, { id: resting.id, input: { active: false } }, { token: shop.token }));
    data(await stack.gql(DELETE, { id: gone.id }, { token: shop.token }));

    const ids = [gone.id, '999999999999', live.id, resting.id, 'not-an-id'];
    const found = data<{ productsByIds: ({ id: string; active: boolean; deleted: boolean } | null)[] }>(
      await direct(stack, BY_IDS, { ids }, { issuer: 'cart' }),
    ).productsByIds;
    assert.deepEqual(
      found.map((p) => p && [p.id, p.active, p.deleted]),
      [[gone.id, true, true], null, [live.id, true, false], [resting.id, false, false], null],
    );
    assert.deepEqual(found[2], {
      id: live.id,
      name: 'Live',
      price: { amount: 1200, currency: 'CNY' },
      active: true,
      deleted: false,
      stock: 7,
    });
  });

  test('only cart and checkout may call it, with at most 100 ids; the public API does not have it', async () => {
    const ids = ['1'];
    assert.equal(errorCode(await direct(stack, BY_IDS, { ids }, { issuer: 'checkout' })), undefined);
    assert.equal(errorCode(await direct(stack, BY_IDS, { ids }, { issuer: 'order' })), 'FORBIDDEN');
    assert.equal(errorCode(await direct(stack, BY_IDS, { ids }, { issuer: 'router' })), 'FORBIDDEN');
    const many = Array.from({ length: 101 }, (_, i) => String(i + 1));
    assert.equal(errorCode(await direct(stack, BY_IDS, { ids: many }, { issuer: 'cart' })), 'BAD_USER_INPUT');
    assert.equal(errorCode(await stack.gql(BY_IDS, { ids }, { token: shop.token })), 'GRAPHQL_VALIDATION_FAILED');
  });
});
