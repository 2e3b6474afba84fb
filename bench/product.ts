/**
 * The catalog's read path on 10,000 products: `product(id)` (Redis cache hit vs miss) and `products(first: 20)`
 * plain, by category (a root with its sub-categories) and by search, each through the router and straight to the
 * product subgraph, measured side by side in one run; then the `EXPLAIN ANALYZE` of the search query. Loopback
 * only, bounded counts (about a minute on 2 cores). CPU/req is this whole process's CPU time per request.
 *   node bench/product.ts [--products 10000] [--requests 400] [--concurrency 4]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import {
  createPrismaClient,
  domainDatabaseUrl,
  IDENTITY_HEADER,
  IdentitySigner,
  resolveInternalSecret,
} from '@mall/platform';
import { postGraphQL, startTestStack } from '@mall/stack/testing';
import pg from 'pg';
import { Prisma, PrismaClient } from '../subgraphs/product/data/generated/client.ts';
import { listingSql } from '../subgraphs/product/data/products.ts';
import { PRODUCT_KEYSETS, parseListing } from '../subgraphs/product/domain/listing.ts';
import { fmt, type LatencySummary, measure, resultFile } from './lib.ts';

const { values } = parseArgs({
  options: {
    products: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '4' },
  },
});
const productCount = Number(values.products);
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const ADJECTIVES = ['red', 'quiet', 'smart', 'rugged', 'silk', 'oak', 'mini', 'classic', 'travel', 'golden'];
// 40 nouns, so a one-word search matches 2.5 % of the catalog: a shopper's query, not a scan of a tenth of it.
const NOUNS = [
  'lamp',
  'kettle',
  'backpack',
  'speaker',
  'jacket',
  'wok',
  'pillow',
  'watch',
  'sneaker',
  'serum',
  'mug',
  'blender',
  'headphones',
  'tote',
  'scarf',
  'candle',
  'rug',
  'mirror',
  'stool',
  'teapot',
  'umbrella',
  'wallet',
  'charger',
  'keyboard',
  'monitor',
  'notebook',
  'pen',
  'desk',
  'chair',
  'sofa',
  'blanket',
  'towel',
  'soap',
  'perfume',
  'lipstick',
  'sunscreen',
  'bracelet',
  'ring',
  'necklace',
  'hat',
];
const SEARCH = 'kettle';

const PRODUCT = 'query Product($id: ID!) { product(id: $id) { id name price { amount currency } stock } }';
const PRODUCTS = `query Products($filter: ProductFilter, $first: Int) {
  products(filter: $filter, first: $first) { edges { cursor node { id name price { amount currency } stock } } pageInfo { hasNextPage endCursor } }
}`;

const stack = await startTestStack({
  subgraphs: ['user', 'auth', 'product'],
  env: { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' },
});
const db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'product') });
await db.connect();
try {
  // ---------- 10,000 products in a two-level tree (bulk SQL: the API would take minutes) ----------
  await db.query(`
    INSERT INTO categories (id, name, slug, parent_id)
    SELECT g, 'Root ' || g, 'root-' || g, NULL FROM generate_series(1, 4) g
    UNION ALL SELECT 100 + g, 'Leaf ' || g, 'leaf-' || g, 1 + (g % 4) FROM generate_series(1, 16) g`);
  await db.query(
    `INSERT INTO products (id, merchant_id, name, description, price_amount, currency, image_urls, available, created_at)
     SELECT 1000000 + g, 1,
            initcap(($1::text[])[1 + g % 10]) || ' ' || ($2::text[])[1 + (g / 10) % 40] || ' No. ' || g,
            'A ' || ($1::text[])[1 + (g / 7) % 10] || ' thing for everyday use, model ' || g,
            100 + (g * 7919) % 100000, 'CNY', ARRAY['https://img.example.com/' || g || '.png'], g % 50,
            now() - g * interval '1 second'
     FROM generate_series(1, $3::int) g`,
    [ADJECTIVES, NOUNS, productCount],
  );
  await db.query(
    `INSERT INTO product_categories (product_id, category_id)
                  SELECT 1000000 + g, 101 + g % 16 FROM generate_series(1, $1::int) g`,
    [productCount],
  );
  await db.query('ANALYZE');
  const ids = Array.from({ length: productCount }, (_, i) => String(1_000_001 + i));

  // ---------- the two paths ----------
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), 'router');
  const subgraphUrl = `${stack.subgraphUrls['product']}/graphql`;
  const check = (r: { body: { errors?: unknown } }) => {
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };
  const viaRouter = (query: string, variables: Record<string, unknown>) => async () =>
    check(await stack.gql(query, variables));
  const direct = (query: string, variables: Record<string, unknown>) => async () => {
    const identity = await signer.sign({ userId: null, roles: [], requestId: 'bench', audience: 'product' });
    check(await postGraphQL(subgraphUrl, query, variables, { headers: { [IDENTITY_HEADER]: identity } }));
  };

  const results: [string, LatencySummary][] = [];
  const run = async (name: string, task: (i: number) => Promise<void>, count = requests) => {
    results.push([name, await measure(count, concurrency, task)]);
  };
  // Warm JIT, pools and the query planner on both paths, outside the ids measured below.
  await measure(200, concurrency, (i) => viaRouter(PRODUCT, { id: ids[productCount - 1 - (i % 50)] })());
  await measure(200, concurrency, (i) => direct(PRODUCT, { id: ids[productCount - 1 - (i % 50)] })());

  // A miss reads an id nobody has read yet; a hit cycles through 100 ids already cached.
  const missIds = { router: ids.slice(0, requests), direct: ids.slice(requests, 2 * requests) };
  const hot = ids.slice(2 * requests, 2 * requests + 100);
  await measure(hot.length, 4, (i) => direct(PRODUCT, { id: hot[i] })());
  await run('product(id), cache miss, via router', (i) => viaRouter(PRODUCT, { id: missIds.router[i] })());
  await run('product(id), cache miss, direct', (i) => direct(PRODUCT, { id: missIds.direct[i] })());
  await run('product(id), cache hit, via router', (i) => viaRouter(PRODUCT, { id: hot[i % hot.length] })());
  await run('product(id), cache hit, direct', (i) => direct(PRODUCT, { id: hot[i % hot.length] })());

  const root = { categoryId: '2' };
  const listings: [string, Record<string, unknown>][] = [
    ['products(first: 20)', { first: 20 }],
    ['products(first: 20, category: root + 4 sub-categories)', { first: 20, filter: root }],
    [`products(first: 20, search: "${SEARCH}")`, { first: 20, filter: { search: SEARCH } }],
  ];
  for (const [name, variables] of listings) {
    await run(`${name} via router`, viaRouter(PRODUCTS, variables));
    await run(`${name} direct`, direct(PRODUCTS, variables));
  }

  // ---------- the plan of the search query, exactly as the listing builds it ----------
  const prisma = createPrismaClient(PrismaClient, { url: domainDatabaseUrl(stack.config, 'product') });
  const { filter } = parseListing({ search: SEARCH }, null);
  const sql = listingSql({
    filter,
    categoryIds: null,
    merchantId: null,
    keyset: PRODUCT_KEYSETS.RELEVANCE,
    after: null,
    take: 21,
  });
  const plan = await prisma.$queryRaw<{ 'QUERY PLAN': string }[]>(
    Prisma.sql`EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) ${sql}`,
  );
  await prisma.$disconnect();

  const row = (name: string) => results.find(([n]) => n === name)?.[1];
  const ratio = (a?: LatencySummary, b?: LatencySummary) => (a && b ? (a.p50 / b.p50).toFixed(2) : '?');
  const lines = [
    `# Product read path (${new Date().toISOString()})`,
    '',
    `Command: \`npm run bench:product -- --products ${productCount} --requests ${requests} --concurrency ${concurrency}\` on ${process.version}, ${availableParallelism()} cores; rate limits off; router, subgraphs, Postgres and Redis on loopback.`,
    '',
    '| scenario | requests | p50 | p99 | mean | req/s | CPU/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      ([name, s]) =>
        `| ${name} | ${s.count} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.mean)} | ${s.perSecond.toFixed(0)} | ${fmt(s.cpuPerTask)} |`,
    ),
    '',
    `Cache: a miss costs p50 x${ratio(row('product(id), cache miss, direct'), row('product(id), cache hit, direct'))} of a hit straight to the subgraph. Router overhead on product(id) (hit): p50 x${ratio(row('product(id), cache hit, via router'), row('product(id), cache hit, direct'))}.`,
    '',
    `## EXPLAIN ANALYZE of products(filter: { search: "${SEARCH}" }, first: 20)`,
    '',
    '```',
    ...plan.map((p) => p['QUERY PLAN']),
    '```',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  writeFileSync(resultFile('product.md'), lines.join('\n'));
} finally {
  await db.end();
  await stack.close();
}
