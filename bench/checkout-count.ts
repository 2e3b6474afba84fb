/**
 * Round trips per checkout: the same stack and carts as bench/checkout.ts (router, user, auth, product, order
 * and checkout in this process, the cart's checkoutCart a stub), a few checkouts, and what each one cost in
 * - Postgres statements, per database: every `query` any pg client of this process sends (Prisma's adapter,
 *   the outbox relays, the consumers), BEGIN and COMMIT included, so it is what reached the server;
 * - Redis commands: every command any ioredis client of this process sends (pipelined ones each count), and
 *   the server's INFO commandstats delta beside it (server-wide: it also counts anyone else's commands);
 * - HTTP requests between services (undici's request channel, by target port), the client's to the router
 *   apart.
 * The async tail is included: after the last checkout it waits until every outbox has published its rows.
 * The background (relay polls, sweeps) is measured over an idle window first and subtracted pro rata.
 *   node bench/checkout-count.ts [--orders 40] [--concurrency 4] [--detail]
 */
import { subscribe } from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { domainDatabaseUrl } from '@mall/platform';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SHOP_SUBGRAPHS, startCheckoutShop } from './checkout-shop.ts';
import { measure } from './lib.ts';

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '4' },
    users: { type: 'string', default: '10' },
    detail: { type: 'boolean', default: false },
  },
});
const orderCount = Number(values.orders);
const concurrency = Number(values.concurrency);
const userCount = Number(values.users);

// ---------- the counters ----------

const pgCounts = new Map<string, number>();
const pgStatements = new Map<string, number>();
const redisCounts = new Map<string, number>();
const httpCounts = new Map<string, number>();
/** The script's own observer connections, which must not count. */
const uncounted = new WeakSet<object>();

const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  if (!uncounted.has(this)) {
    const database = (this as unknown as { database?: string }).database ?? '?';
    const domain = database.replace(/^mt_[^_]+_/, '');
    pgCounts.set(domain, (pgCounts.get(domain) ?? 0) + 1);
    if (values.detail) {
      const first = args[0];
      const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
      const key = `${domain}: ${text.replace(/\s+/g, ' ').trim().slice(0, 110)}`;
      pgStatements.set(key, (pgStatements.get(key) ?? 0) + 1);
    }
  }
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const originalSend = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function countedSend(this: Redis, command, stream) {
  if (!uncounted.has(this)) {
    const name = command.name.toLowerCase();
    redisCounts.set(name, (redisCounts.get(name) ?? 0) + 1);
  }
  return originalSend.call(this, command, stream);
};

const portNames = new Map<string, string>();
subscribe('undici:request:create', (message) => {
  const { request } = message as { request: { origin: string } };
  const port = new URL(request.origin).port;
  const name = portNames.get(port) ?? `:${port}`;
  httpCounts.set(name, (httpCounts.get(name) ?? 0) + 1);
});

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const snapshot = () => ({
  pg: new Map(pgCounts),
  redis: new Map(redisCounts),
  http: new Map(httpCounts),
  statements: new Map(pgStatements),
});
const minus = (a: Map<string, number>, b: Map<string, number>) =>
  new Map([...a].map(([k, v]) => [k, v - (b.get(k) ?? 0)] as const).filter(([, v]) => v !== 0));

// ---------- the shop (as bench/checkout.ts) ----------

const shop = await startCheckoutShop({ users: userCount, products: 20, label: 'count' });
const { stack } = shop;
portNames.set(new URL(stack.url).port, 'client → router');
portNames.set(new URL(shop.cartUrl).port, 'cart (stub)');
for (const [name, url] of Object.entries(stack.subgraphUrls)) portNames.set(new URL(url).port, name);

const observers = SHOP_SUBGRAPHS.map(
  (name) => new pg.Client({ connectionString: domainDatabaseUrl(stack.config, name) }),
);
for (const client of observers) uncounted.add(client);
const serverRedis = new Redis(stack.config.redis.url);
uncounted.add(serverRedis);

/** Waits until every domain's outbox has published everything: the tail of the orders' events. */
async function outboxesDrained(): Promise<void> {
  for (;;) {
    let pending = 0;
    for (const client of observers) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM "outbox" WHERE published_at IS NULL',
      );
      pending += rows[0]?.n ?? 0;
    }
    if (pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function commandStats(): Promise<Map<string, number>> {
  const info = await serverRedis.info('commandstats');
  const stats = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1]!, Number(match[2]));
  return stats;
}

try {
  for (const client of observers) await client.connect();
  const lines = shop.cartSizes;
  let failures = 0;
  const run = (total: number, keyPrefix: string) =>
    measure(total, concurrency, async (i) => {
      if (!(await shop.checkout(keyPrefix, i))) failures++;
    });
  // Warm: caches, query plans, the scripts on each connection, every buyer's token.
  await run(2 * shop.buyers.length, 'warm');
  await outboxesDrained();

  // The background over an idle window, then the run with its tail.
  const idleStart = snapshot();
  const idleStarted = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const idle = { ...snapshot(), ms: performance.now() - idleStarted };
  const statsBefore = await commandStats();
  const before = snapshot();
  const started = performance.now();
  failures = 0;
  await run(orderCount, 'count');
  await outboxesDrained();
  const elapsed = performance.now() - started;
  const after = snapshot();
  const statsAfter = await commandStats();

  const scale = elapsed / idle.ms;
  const perOrder = (total: Map<string, number>, background: Map<string, number>) =>
    new Map([...total].map(([k, v]) => [k, Math.max(0, (v - (background.get(k) ?? 0) * scale) / orderCount)] as const));
  const pgPer = perOrder(minus(after.pg, before.pg), minus(idle.pg, idleStart.pg));
  const redisPer = perOrder(minus(after.redis, before.redis), minus(idle.redis, idleStart.redis));
  const httpPer = perOrder(minus(after.http, before.http), minus(idle.http, idleStart.http));
  const serverPer = perOrder(minus(statsAfter, statsBefore), new Map());
  const table = (m: Map<string, number>) =>
    [...m]
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${k.padEnd(24)} ${v.toFixed(2)}`)
      .join('\n');
  const hops = sum(httpPer) - (httpPer.get('client → router') ?? 0);
  const out = [
    `Checkout round trips: ${orderCount} orders, concurrency ${concurrency}, ${failures} failed; carts of ${(
      lines.reduce((a, b) => a + b, 0) / lines.length
    ).toFixed(1)} lines on average; background (idle ${(idle.ms / 1000).toFixed(1)} s) subtracted pro rata over ${(
      elapsed / 1000
    ).toFixed(1)} s.`,
    '',
    `Postgres statements per order: ${sum(pgPer).toFixed(1)}`,
    table(pgPer),
    `Redis commands per order (this process): ${sum(redisPer).toFixed(1)}`,
    table(redisPer),
    `Redis commands per order (server INFO commandstats, anyone's): ${sum(serverPer).toFixed(1)}`,
    `HTTP requests between services per order: ${hops.toFixed(1)}`,
    table(httpPer),
  ];
  if (values.detail) {
    out.push('Statements (per order, background not subtracted):');
    out.push(table(perOrder(minus(after.statements, before.statements), new Map())));
  }
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  for (const client of observers) await client.end().catch(() => {});
  serverRedis.disconnect();
  await shop.close();
}
