/**
 * Checkout through the router: many shoppers, carts of 1–5 lines, each checkout a new idempotency key; reports
 * orders/s and p50/p99, and where the CPU goes (a V8 CPU profile of this process, which runs the router and
 * every subgraph, taken over the measured run only, summarised by self time). Loopback only, bounded counts
 * (about two minutes on 2 cores). The cart's internal checkoutCart is a stub in this process answering each
 * shopper's cart, so a shopper can check out again and again (the real cart empties on order.created) and the
 * figures are checkout's own, not AddToCart's.
 *   node bench/checkout.ts [--users 100] [--orders 1500] [--concurrency 16]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startCheckoutShop } from './checkout-shop.ts';
import { fmt, measure, resultFile, serverCpuMs } from './lib.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    orders: { type: 'string', default: '1500' },
    concurrency: { type: 'string', default: '16' },
  },
});
const userCount = Number(values.users);
const orderCount = Number(values.orders);
const concurrency = Number(values.concurrency);

const shop = await startCheckoutShop({ users: userCount, products: 50, label: 'bench' });

try {
  let failures = 0;
  const run = (total: number, keyPrefix: string) =>
    measure(total, concurrency, async (i) => {
      if (!(await shop.checkout(keyPrefix, i))) failures++;
    });
  await run(200, 'warm');
  failures = 0;

  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  const loadBefore = loadavg()[0]!;
  const serversBefore = serverCpuMs();
  const summary = await run(orderCount, 'bench');
  const serversAfter = serverCpuMs();
  // Postgres and Redis are shared with whatever else runs here; on a quiet machine this is the mall's share.
  const perOrder = (server: 'postgres' | 'redis') => (serversAfter[server] - serversBefore[server]) / summary.count;
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  mkdirSync(new URL('../.data/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../.data/checkout.cpuprofile', import.meta.url), JSON.stringify(profile));

  // Self time per function (file:line), and per package/area, from the profile's samples.
  const byNode = new Map<number, number>();
  for (const id of profile.samples ?? []) byNode.set(id, (byNode.get(id) ?? 0) + 1);
  const totalSamples = profile.samples?.length ?? 1;
  const selfByFunction = new Map<string, number>();
  const selfByArea = new Map<string, number>();
  const root = new URL('../', import.meta.url).href;
  for (const node of profile.nodes) {
    const hits = byNode.get(node.id) ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.startsWith(root) ? url.slice(root.length) : url || '(native)';
    const key = `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + hits);
    const area =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ??
      (file.startsWith('node:')
        ? 'node core'
        : (/^(subgraphs\/\w+|router|packages\/\w+[-\w]*)/.exec(file)?.[1] ?? functionName ?? '(other)'));
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + hits);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `| ${k.replaceAll('|', '\\|')} | ${((100 * v) / totalSamples).toFixed(1)} % |`);

  const lines = [
    `# Checkout through the router (${new Date().toISOString()})`,
    '',
    `Command: \`npm run bench:checkout -- --users ${userCount} --orders ${orderCount} --concurrency ${concurrency}\` on ${process.version}, ${availableParallelism()} cores; rate limits off; router, user, auth, product, order and checkout in this one process, Postgres, Redis and the embedded broker on loopback; the cart's checkoutCart a stub in this process (so carts stay full across repeated checkouts). Each order: a new idempotency key, a cart of 1–5 lines.`,
    '',
    `Host load average (1 min) when the run started: ${loadBefore.toFixed(1)} on ${availableParallelism()} cores (other work shares this machine; CPU/order is the steadier figure).`,
    '',
    '| orders | failed | p50 | p99 | mean | orders/s | CPU/order | Postgres CPU/order | Redis CPU/order |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${summary.count} | ${failures} | ${fmt(summary.p50)} | ${fmt(summary.p99)} | ${fmt(summary.mean)} | ${summary.perSecond.toFixed(0)} | ${fmt(summary.cpuPerTask)} | ${fmt(perOrder('postgres'))} | ${fmt(perOrder('redis'))} |`,
    '',
    'CPU/order is this process (router, subgraphs, broker, client); Postgres and Redis are every process of each server on the machine over the measured run (10 ms ticks; a backend that exits meanwhile is not counted).',
    '',
    '## Where the CPU goes (self time, share of samples over the measured run)',
    '',
    '| area | self |',
    '| --- | ---: |',
    ...top(selfByArea, 15),
    '',
    '| function | self |',
    '| --- | ---: |',
    ...top(selfByFunction, 25),
    '',
  ];
  writeFileSync(resultFile('checkout.md'), lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await shop.close();
}
