/**
 * The flash-sale scenario of the harness (`npm run bench -- flashsale`): a crowd buying one sale through our
 * router, every part in its own process as in production — the subgraphs (with Redis, Postgres and the embedded
 * broker) in the stack child, our router started as production starts it (`node router/src/index.ts`,
 * NODE_ENV=production, TRUSTED_DOCUMENTS=on, rate limits at their defaults), the buyers in the load generator.
 *  1. open loop: arrivals at a fixed rate (2,000/s for 5 s = 10,000 buyers, one buy each), latency from each
 *     buy's scheduled send time (no coordinated omission);
 *  2. closed loop: 1,000 connections, 10,000 buyers, each connection buying again as soon as it is answered.
 * Each run is a fresh sale of 100 units and must end with exactly 100 orders and no purchase left PENDING (else
 * the scenario fails); "settled" is from the first send until then. CPU per buy is each process's own (Linux
 * /proc/<pid>/stat, 10 ms ticks) over the answering window; the stack's settling tail is given apart.
 * `flashsale-profile` is the same under CPU profiles (router: --cpu-prof; stack and load generator: the
 * inspector, around the measured runs only) → bench/profiles/flashsale-*.
 * Sizes: BENCH_FLASHSALE="rate=1000,seconds=5,connections=1000,buyers=10000,units=100" overrides any of them;
 * BENCH_FLASHSALE_LIMITS=off starts the router with its rate limits off (what the limits cost per buy; the
 * sale's own per-address cap stays, it is the subgraph's).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { freePort } from '@mall/platform/testing';
import { startOurRouter, type Target, writeSupergraph } from './gateways.ts';
import {
  BENCH_DIR,
  type Child,
  type CpuProfile,
  cpuMsOf,
  type Harness,
  type Message,
  monotonicUs,
  profileTables,
  resultFile,
  startChild,
  summariseProfile,
} from './lib.ts';
import type { CrowdResult } from './procs/flash-buyers.ts';
import type { SettledReply } from './procs/flashsale-desk.ts';

export interface FlashSaleSizes {
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  readonly buyers: number;
  readonly units: number;
  /** Buyers of the warm-up sale (JIT, pools, plan cache), at 20 connections; not measured. */
  readonly warm: number;
}

export function flashSaleSizes(smoke: boolean, override = process.env['BENCH_FLASHSALE'] ?? ''): FlashSaleSizes {
  const base: FlashSaleSizes = smoke
    ? { rate: 100, seconds: 1, connections: 20, buyers: 100, units: 10, warm: 20 }
    : { rate: 2000, seconds: 5, connections: 1000, buyers: 10_000, units: 100, warm: 300 };
  const sizes: Record<string, number> = { ...base };
  for (const pair of override.split(',').filter(Boolean)) {
    const [key = '', value = ''] = pair.split('=');
    if (!(key in sizes) || !Number.isFinite(Number(value)) || Number(value) <= 0)
      throw new Error(`BENCH_FLASHSALE: "${pair}" is not one of ${Object.keys(sizes).join(', ')} = a positive number`);
    sizes[key] = Number(value);
  }
  return sizes as unknown as FlashSaleSizes;
}

/** Asks a harness child and waits for its reply of the same type. */
async function ask<T extends Message>(child: Child, message: Message, timeoutMs = 300_000): Promise<T> {
  const reply = child.next<T>(message.type, timeoutMs);
  child.send(message);
  return reply;
}

type Processes = Record<'router' | 'stack' | 'loadgen', number>;
const cpuNow = (pids: Processes) =>
  Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMsOf(pid)])) as Processes;
const cpuSince = (before: Processes, after: Processes, per: number) =>
  Object.fromEntries(
    Object.keys(before).map((k) => {
      const name = k as keyof Processes;
      return [name, Math.round(((after[name] - before[name]) / per) * 1000) / 1000];
    }),
  ) as Processes;

/** The contract's BuyFlashSale by its trusted-document id: what a production client sends. */
function buyOperation() {
  const manifest = JSON.parse(readFileSync(new URL('../router/trusted-documents.json', BENCH_DIR), 'utf8')) as {
    operations: { id: string; name: string }[];
  };
  const entry = manifest.operations.find((o) => o.name === 'BuyFlashSale');
  if (!entry) throw new Error('router/trusted-documents.json has no BuyFlashSale');
  return { operationName: entry.name, sha256Hash: entry.id };
}

export interface FlashSaleRow {
  readonly run: string;
  readonly kind: 'open' | 'closed';
  readonly buyers: number;
  readonly units: number;
  readonly answers: Record<string, number>;
  /**
   * Buys answered no purchase (an error, a time-out, a non-GraphQL answer). Shown, not a harness failure: under
   * overload UNAVAILABLE (retry with the same key) is a legitimate answer and part of the figure; the smoke test
   * insists on none at its small rate.
   */
  readonly failed: number;
  readonly resent: number;
  readonly answeredPerSecond: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly latencyByAnswer: CrowdResult['latencyByAnswer'];
  readonly wallMs: number;
  readonly maxSendLagMs: number;
  /** CPU ms per buy of each process over the answering window. */
  readonly cpuMsPerBuy: Processes & { readonly total: number };
  /** The load generator's own reading of its CPU per buy (process.cpuUsage over the timed part). */
  readonly clientCpuMsPerBuy: number;
  /** CPU ms each process used after the last answer until every purchase was settled. */
  readonly settleTailCpuMs: Processes;
  readonly settledMs: number;
  readonly purchases: Record<string, number>;
  readonly orders: number;
  readonly exact: boolean;
}

/** What a crowd's answers and the processes' CPU say, as every row reports them. */
function crowdFigures(
  kind: 'open' | 'closed',
  sizes: FlashSaleSizes,
  buyers: number,
  connections: number,
  result: CrowdResult,
  perBuy: Processes,
) {
  return {
    run:
      kind === 'open'
        ? `open loop, ${sizes.rate}/s for ${sizes.seconds} s (${buyers} buyers, ${sizes.units} units)`
        : `closed loop, ${connections} connections (${buyers} buyers, ${sizes.units} units)`,
    kind,
    buyers,
    units: sizes.units,
    answers: result.answers,
    failed: Object.entries(result.answers)
      .filter(([answer]) => answer.startsWith('error'))
      .reduce((a, [, n]) => a + n, 0),
    resent: result.resent,
    answeredPerSecond: Math.round(result.answeredPerSecond),
    p50: result.p50,
    p90: result.p90,
    p99: result.p99,
    max: result.max,
    latencyByAnswer: result.latencyByAnswer,
    wallMs: Math.round(result.wallMs),
    maxSendLagMs: Math.round(result.maxSendLagMs * 10) / 10,
    cpuMsPerBuy: { ...perBuy, total: Math.round((perBuy.router + perBuy.stack + perBuy.loadgen) * 1000) / 1000 },
    clientCpuMsPerBuy: Math.round(result.clientCpuMsPerBuy * 1000) / 1000,
  };
}

async function crowd(
  h: Harness,
  router: Target,
  kind: 'open' | 'closed',
  sizes: FlashSaleSizes,
  run: number,
  buyers: number,
  connections: number,
): Promise<FlashSaleRow> {
  const { saleId } = await ask<Message & { saleId: string }>(h.stack, { type: 'flashsale:sale', units: sizes.units });
  const tag = `${kind}-${run}`;
  await ask(h.loadgen, {
    type: 'flashsale:prepare',
    tag,
    count: buyers,
    run,
    saleId,
    accessTokenKey: h.ready.accessTokenKey,
    operation: buyOperation(),
  });
  const pids: Processes = {
    router: router.child!.process.pid!,
    stack: h.stack.process.pid!,
    loadgen: h.loadgen.process.pid!,
  };
  const url = router.request({} as never).url;
  const before = cpuNow(pids);
  const result = await ask<CrowdResult>(
    h.loadgen,
    { type: `flashsale:${kind}`, tag, url, rate: sizes.rate, connections },
    (sizes.seconds + 300) * 1000,
  );
  const answered = cpuNow(pids);
  const settled = await ask<SettledReply>(h.stack, { type: 'flashsale:settled', saleId, timeoutMs: 120_000 });
  const after = cpuNow(pids);
  const granted = result.answers['PENDING'] ?? 0;
  const purchases = settled.purchases;
  const exact =
    settled.orders === sizes.units &&
    granted === sizes.units &&
    (purchases['CONFIRMED'] ?? 0) === sizes.units &&
    !purchases['PENDING'];
  return {
    ...crowdFigures(kind, sizes, buyers, connections, result, cpuSince(before, answered, buyers)),
    settleTailCpuMs: cpuSince(answered, after, 1),
    settledMs: settled.settledAtEpochMs - result.startedAtEpochMs,
    purchases,
    orders: settled.orders,
    exact,
  };
}

async function runFlashSale(h: Harness, profile: boolean) {
  const sizes = flashSaleSizes(h.smoke);
  const supergraph = writeSupergraph(h);
  const profileDir = h.smoke ? resultFile('profiles/').pathname : new URL('profiles/', BENCH_DIR).pathname;
  const routerProfile = 'flashsale-router.cpuprofile';
  const limitsOff = process.env['BENCH_FLASHSALE_LIMITS'] === 'off';
  const router = await startOurRouter(h, supergraph, {
    limits: limitsOff ? 'off' : 'production',
    env: { TRUSTED_DOCUMENTS: 'on' },
    ...(profile
      ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${routerProfile}`] }
      : {}),
  });
  const rows: FlashSaleRow[] = [];
  const window = { fromUs: 0, toUs: 0 };
  try {
    const total = Math.round(sizes.rate * sizes.seconds);
    // Warm-up: JIT, connection pools, the plan cache; a sale of its own, not reported.
    await crowd(h, router, 'closed', sizes, 1, sizes.warm, 20);
    if (profile) {
      window.fromUs = monotonicUs();
      await Promise.all([ask(h.stack, { type: 'profile:start' }), ask(h.loadgen, { type: 'profile:start' })]);
    }
    rows.push(await crowd(h, router, 'open', sizes, 2, total, sizes.connections));
    rows.push(await crowd(h, router, 'closed', sizes, 3, sizes.buyers, sizes.connections));
    if (profile) {
      window.toUs = monotonicUs();
      await Promise.all([
        ask(h.stack, { type: 'profile:stop', file: `${profileDir}flashsale-stack.cpuprofile` }),
        ask(h.loadgen, { type: 'profile:stop', file: `${profileDir}flashsale-loadgen.cpuprofile` }),
      ]);
    }
  } finally {
    // A clean exit (SIGTERM → the router's own shutdown) is what makes Node write its profile.
    await router.child?.stop();
  }
  for (const row of rows)
    if (!row.exact)
      throw new Error(
        `${row.run}: not exactly ${row.units} orders — ${row.orders} orders, purchases ${JSON.stringify(row.purchases)}, ${row.answers['PENDING'] ?? 0} answered PENDING`,
      );
  const result = {
    sizes,
    setup: `router: node router/src/index.ts, NODE_ENV=production, TRUSTED_DOCUMENTS=on, ${limitsOff ? 'rate limits OFF (BENCH_FLASHSALE_LIMITS=off)' : 'default rate limits (1,200/min per IP, 600/min per user)'}; flashsale FLASHSALE_IP_LIMIT default (100 buys of one sale per address per 60 s); each buyer its own address in X-Forwarded-For (the router trusts loopback, as behind a load balancer)`,
    loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
    rows,
  };
  if (!profile) return result;
  const summaries = Object.fromEntries(
    (['router', 'stack', 'loadgen'] as const).map((name) => {
      const file = `${profileDir}flashsale-${name}.cpuprofile`;
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      return [name, summariseProfile(parsed, name === 'router' ? window : undefined, 30)];
    }),
  );
  const lines = [renderFlashSale(result), ''];
  for (const [name, summary] of Object.entries(summaries)) {
    lines.push(
      `## ${name}: ${summary.busyMs} ms busy over the measured runs (${summary.idleMs} ms idle left out)`,
      '',
      ...profileTables(summary),
    );
  }
  writeFileSync(`${profileDir}flashsale.md`, lines.join('\n'));
  return { ...result, summaries };
}

const f1 = (x: number) => x.toFixed(x < 10 ? 2 : 1);

export function flashSaleTable(rows: readonly FlashSaleRow[]): string[] {
  return [
    '| run | answers | answered/s | p50 ms | p90 ms | p99 ms | grants p50 / p99 ms | CPU/buy router | stack | load gen | orders | none PENDING | settled after |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...rows.map((r) => {
      const answers = Object.entries(r.answers)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      const c = r.cpuMsPerBuy;
      const grants = r.latencyByAnswer?.['PENDING'];
      // The floor has no database: nothing is settled after the answer.
      const settles = Object.keys(r.purchases).length > 0;
      return `| ${r.run} | ${answers}${r.resent ? ` (${r.resent} resent)` : ''} | ${r.answeredPerSecond} | ${f1(r.p50)} | ${f1(r.p90)} | ${f1(r.p99)} | ${grants ? `${f1(grants.p50)} / ${f1(grants.p99)}` : ''} | ${f1(c.router)} ms | ${f1(c.stack)} ms | ${f1(c.loadgen)} ms | ${r.orders} | ${settles ? (r.purchases['PENDING'] ? 'no' : 'yes') : '–'} | ${settles ? `${(r.settledMs / 1000).toFixed(2)} s` : '–'} |`;
    }),
  ];
}

function renderFlashSale(result: {
  sizes: FlashSaleSizes;
  setup: string;
  loadAverage: number[];
  rows: FlashSaleRow[];
}) {
  return [
    `# Flash sale under CPU profiles (slower than a plain run)`,
    '',
    `\`npm run bench -- flashsale-profile\` — ${new Date().toISOString()}, Node ${process.version}, ${availableParallelism()} cores, load average at the end ${result.loadAverage.join(' / ')}.`,
    `Setup: ${result.setup}. Profiles: \`flashsale-{router,stack,loadgen}.cpuprofile\` (Chrome DevTools → Performance, or speedscope), the measured runs only; the router's from its --cpu-prof cut to that window.`,
    '',
    ...flashSaleTable(result.rows),
    '',
  ].join('\n');
}

/**
 * The floor (`npm run bench -- flashsale-floor`): the same crowds, sizes and load generator against the least
 * two Node processes can do for a buy in our shape (bench/procs/flash-floor.ts: an edge that checks the token,
 * counts both limits and signs the identity; a sale service that checks the identity and runs the real buy
 * script). What a buy costs there is what no GraphQL router and subgraph in this architecture can go below on
 * this machine; the columns "router" and "stack" are the floor's edge and sale processes.
 */
export async function scenarioFlashSaleFloor(h: Harness) {
  const sizes = flashSaleSizes(h.smoke);
  const [salePort, edgePort] = [await freePort(), await freePort()];
  const env = { ...h.ready.env, MALL_INTERNAL_SECRET: h.ready.internalSecret };
  const sale = startChild('floor-sale', 'bench/procs/flash-floor.ts', { args: ['sale', String(salePort)], env });
  const edge = startChild('floor-edge', 'bench/procs/flash-floor.ts', {
    args: ['edge', String(edgePort), `http://127.0.0.1:${salePort}/graphql`],
    env: { ...env, BENCH_FLOOR_ACCESS_KEY: h.ready.accessTokenKey },
  });
  const rows: FlashSaleRow[] = [];
  try {
    await Promise.all([sale.next('ready'), edge.next('ready')]);
    const pids: Processes = { router: edge.process.pid!, stack: sale.process.pid!, loadgen: h.loadgen.process.pid! };
    const url = `http://127.0.0.1:${edgePort}/graphql`;
    const run = async (kind: 'open' | 'closed', runNo: number, buyers: number, connections: number) => {
      const { saleId } = await ask<Message & { saleId: string }>(sale, { type: 'floor:sale', units: sizes.units });
      const tag = `floor-${kind}-${runNo}`;
      await ask(h.loadgen, {
        type: 'flashsale:prepare',
        tag,
        count: buyers,
        // Addresses 10.<100 + run>.x.y: never the buckets of a harness run before it.
        run: 100 + runNo,
        saleId,
        accessTokenKey: h.ready.accessTokenKey,
        operation: buyOperation(),
      });
      const before = cpuNow(pids);
      const result = await ask<CrowdResult>(
        h.loadgen,
        { type: `flashsale:${kind}`, tag, url, rate: sizes.rate, connections },
        (sizes.seconds + 300) * 1000,
      );
      const granted = result.answers['PENDING'] ?? 0;
      const figures = crowdFigures(kind, sizes, buyers, connections, result, cpuSince(before, cpuNow(pids), buyers));
      return {
        ...figures,
        run: `${figures.run}, floor`,
        settleTailCpuMs: { router: 0, stack: 0, loadgen: 0 },
        // No database behind the floor: a grant is answered and forgotten, so nothing is left to settle.
        settledMs: 0,
        purchases: {},
        orders: granted,
        exact: granted === sizes.units,
      } satisfies FlashSaleRow;
    };
    await run('closed', 1, sizes.warm, 20);
    rows.push(await run('open', 2, Math.round(sizes.rate * sizes.seconds), sizes.connections));
    rows.push(await run('closed', 3, sizes.buyers, sizes.connections));
  } finally {
    await Promise.all([edge.stop(), sale.stop()]);
  }
  for (const row of rows) if (!row.exact) throw new Error(`${row.run}: ${row.orders} grants for ${row.units} units`);
  return {
    sizes,
    setup:
      'floor (bench/procs/flash-floor.ts): node:http edge (Ed25519 check with node:crypto, per-IP 1,200/min and per-user 600/min through the router\'s RateLimiter, identity token, undici pass-through) → node:http sale service (IdentityVerifier, the subgraph\'s SaleStore buy script, a rejection remembered); "router" is the edge, "stack" the sale service; no database, so "orders" counts grants',
    loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
    rows,
  };
}

export const scenarioFlashSale = (h: Harness) => runFlashSale(h, false);
export const scenarioFlashSaleProfile = (h: Harness) => runFlashSale(h, true);
