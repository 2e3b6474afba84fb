/**
 * One buy's cost in the flashsale subgraph alone: `buyFlashSale` sent straight to the subgraph with a signed
 * identity token (as the router sends it), on a sold-out sale (what almost every buyer of a crowd gets), next to
 * `{ __typename }` on the same subgraph (the floor: HTTP, identity check, Apollo), and `FlashSaleService.buy`
 * called in-process (what is the subgraph's own: parsing, the script, the answer; steadier on a busy host).
 * CPU/req is this process's CPU (the client's fetch included, alike on both HTTP sides) per request; tokens are
 * signed before measuring.
 * Loopback only, bounded. Profile with: node --cpu-prof --cpu-prof-dir=/tmp/prof bench/flashsale-subgraph.ts, then
 * node bench/profile-summary.ts <file> '<the measured window it prints>' for the measured rounds alone.
 *   node bench/flashsale-subgraph.ts [--requests 4000] [--concurrency 16]
 */
import { parseArgs } from 'node:util';
import { createLogger, IDENTITY_HEADER, IdentitySigner, resolveInternalSecret } from '@mall/platform';
import { postGraphQL, startTestStack } from '@mall/stack/testing';
import {
  BUY_FLASH_SALE,
  createProduct,
  createSale,
  flashSaleEnv,
  flashSaleService,
  signInAdmin,
  TokenMint,
} from '../subgraphs/flashsale/test/helpers.ts';
import { fmt, type LatencySummary, measure, monotonicUs } from './lib.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '4000' }, concurrency: { type: 'string', default: '16' } },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const mint = new TokenMint();
const stack = await startTestStack({
  subgraphs: ['user', 'auth', 'product', 'flashsale'],
  env: { ...flashSaleEnv(mint), LOG_LEVEL: 'error' },
});
try {
  const admin = await signInAdmin(stack);
  const productId = await createProduct(stack, admin, 1);
  const sale = await createSale(stack, admin, { productId, quantity: 1 });
  const signer = new IdentitySigner(await resolveInternalSecret(stack.config), 'router');
  const url = `${stack.subgraphUrls['flashsale']}/graphql`;
  const firstUser = 8_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12));
  const tokens = await Promise.all(
    Array.from({ length: requests * 2 + 200 }, (_, i) =>
      signer.sign({
        userId: String(firstUser + BigInt(i)),
        roles: ['CUSTOMER'],
        requestId: `bench-${i}`,
        audience: 'flashsale',
        clientIp: '127.0.0.1',
      }),
    ),
  );
  let used = 0;
  const buy = async () => {
    const identity = tokens[used++] as string;
    const input = { flashSaleId: sale.id, idempotencyKey: `k-${used}` };
    const r = await postGraphQL<{ buyFlashSale: { status: string } }>(
      url,
      BUY_FLASH_SALE.replace(' order { id status }', ''),
      { input },
      { headers: { [IDENTITY_HEADER]: identity } },
    );
    if (!r.body.data?.buyFlashSale) throw new Error(JSON.stringify(r.body.errors));
  };
  const floor = async () => {
    const r = await postGraphQL(url, '{ __typename }', {}, { headers: { [IDENTITY_HEADER]: tokens[0] as string } });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };
  const flashSales = flashSaleService(stack);
  const logger = createLogger({ service: 'bench', level: 'silent' });
  let inProcessUser = firstUser + 10_000_000n;
  const inProcess = async () => {
    const userId = String(inProcessUser++);
    const identity = { userId, roles: ['CUSTOMER'] as const, requestId: 'b', issuer: 'router', session: null };
    const scope = { identity: { ...identity, clientIp: '127.0.0.1' }, requestId: 'b', logger };
    const answer = await flashSales.buy(scope, { flashSaleId: sale.id, idempotencyKey: `p-${userId}` });
    if (answer.status !== 'REJECTED') throw new Error(`expected SOLD_OUT, got ${answer.status}`);
  };
  // Warm-up: the one unit is taken, JIT, pools.
  await measure(200, concurrency, buy);
  await measure(200, concurrency, floor);
  await measure(500, concurrency, inProcess);
  const buys: LatencySummary[] = [];
  const floors: LatencySummary[] = [];
  const calls: LatencySummary[] = [];
  const fromUs = monotonicUs();
  for (let round = 0; round < 4; round++) {
    buys.push(await measure(Math.ceil(requests / 4), concurrency, buy));
    floors.push(await measure(Math.ceil(requests / 4), concurrency, floor));
    calls.push(await measure(Math.ceil(requests / 4), concurrency, inProcess));
  }
  // The measured rounds on the monotonic clock V8 stamps profile samples with: a --cpu-prof profile cut to
  // this window (summariseProfile in lib.ts) leaves the stack's start-up and the warm-up out.
  const window = { fromUs, toUs: monotonicUs() };
  const mean = (xs: LatencySummary[], f: (x: LatencySummary) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
  for (const [name, xs] of [
    ['buyFlashSale (SOLD_OUT) direct to flashsale', buys],
    ['{ __typename } direct to flashsale', floors],
    ['FlashSaleService.buy (SOLD_OUT) in-process', calls],
  ] as const)
    process.stdout.write(
      `${name}: CPU/req ${fmt(mean(xs, (x) => x.cpuPerTask))}, p50 ${fmt(mean(xs, (x) => x.p50))}, ` +
        `p99 ${fmt(Math.max(...xs.map((x) => x.p99)))}, ${mean(xs, (x) => x.perSecond).toFixed(0)}/s\n`,
    );
  process.stdout.write(`measured window (monotonic µs): ${JSON.stringify(window)}\n`);
} finally {
  await stack.close();
}
