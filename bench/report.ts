/**
 * Renders bench/README.md from bench/results/*.json: the tables of the last run of each scenario, with the
 * machine, package versions, command and date each was measured with. Run by the harness after a full run
 * (never after a smoke run); `node bench/report.ts` re-renders it alone.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type FlashSaleRow, flashSaleTable } from './flashsale-harness.ts';
import type { Ratio, Row } from './gateways.ts';
import { BENCH_DIR } from './lib.ts';

interface Saved<T> {
  readonly date: string;
  readonly command: string;
  readonly machine: { cores: number; cpu: string; node: string; versions: Record<string, string> };
  readonly result: T;
}
interface Compared {
  readonly connections: number;
  readonly timings: { warm: number; seconds: number; sequential: number; rounds: number };
  readonly rows: readonly Row[];
  readonly ratios: readonly Ratio[];
}

function load<T>(name: string): Saved<T> | undefined {
  const file = new URL(`results/${name}.json`, BENCH_DIR);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Saved<T>) : undefined;
}

const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);

/** What the flash-sale scenario and its floor save. */
interface Crowds {
  readonly setup: string;
  readonly loadAverage: number[];
  readonly rows: FlashSaleRow[];
}

/** A crowd scenario's run: when and how it was measured, its table, then `after`; or that it has not run. */
function crowdSection(saved: Saved<Crowds> | undefined, after: string[] = []): string[] {
  if (!saved) return ['Not run yet.', ''];
  return [
    measuredWith(saved),
    `Setup: ${saved.result.setup}. Load average at the end: ${saved.result.loadAverage.join(' / ')}.`,
    '',
    ...flashSaleTable(saved.result.rows),
    '',
    ...after,
  ];
}

function measuredWith(saved: Saved<unknown>): string {
  const m = saved.machine;
  const versions = Object.entries(m.versions)
    .map(([pkg, v]) => `${pkg} ${v}`)
    .join(', ');
  return `Measured ${saved.date} with \`${saved.command}\` on ${m.cores} cores (${m.cpu}), Node ${m.node}; ${versions}.`;
}

function gatewayTable(saved: Saved<Compared>, sequential: boolean): string[] {
  const { rows, ratios, connections, timings } = saved.result;
  return [
    measuredWith(saved),
    `${connections} connections, ${timings.rounds} interleaved rounds of ${timings.seconds} s after a ${timings.warm} s warm-up per target; medians of the rounds (autocannon's latency histogram has 1 ms resolution).${sequential ? ` Sequential: one client, ${timings.sequential} s per round, timed with performance.now().` : ''}`,
    '',
    `| query | target | rps | p50 ms | p99 ms |${sequential ? ' seq p50 ms | seq p99 ms |' : ''} requests | errors |`,
    `| --- | --- | ---: | ---: | ---: |${sequential ? ' ---: | ---: |' : ''} ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.query} | ${r.target} | ${r.rps} | ${ms(r.p50)} | ${ms(r.p99)} |${r.sequential ? ` ${ms(r.sequential.p50)} | ${ms(r.sequential.p99)} |` : ''} ${r.requests} | ${r.errors} |`,
    ),
    '',
    `| query | ours | ÷ | rps | p50 | p99 |${sequential ? ' seq p50 added (ms) |' : ''}`,
    `| --- | --- | --- | ---: | ---: | ---: |${sequential ? ' ---: |' : ''}`,
    ...ratios.map(
      (r) =>
        `| ${r.query} | ${r.ours} | ${r.peer} | ${r.rps}× | ${r.p50}× | ${r.p99}× |${sequential ? ` ${r.sequentialP50Added ?? ''} |` : ''}`,
    ),
    '',
  ];
}

/**
 * Issue 25's bar, read off this run: in scenario 2 our router's rps against the better peer with its dedupe
 * off (≥ 1.5×) and against Hive Gateway's defaults (≥ 1×) on every query; in scenario 1 the added sequential
 * p50 over direct on `me` (≤ 0.4 ms). Our router with its dedupe off is shown beside it, for what it costs
 * per request without the collapsing.
 */
function barTable(direct: Saved<Compared> | undefined, gateways: Saved<Compared> | undefined): string[] {
  if (!direct || !gateways) return [];
  const rows = gateways.result.rows;
  const rps = (query: string, target: string) => rows.find((r) => r.query === query && r.target === target)?.rps;
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? Math.round((a / b) * 100) / 100 : NaN);
  const mark = (x: number, bar: number) => `${x}×${x >= bar ? '' : ' (short)'}`;
  const queries = [...new Set(rows.map((r) => r.query))];
  const added = (ours: string) =>
    direct.result.ratios.find((r) => r.query === 'me' && r.ours === ours && r.peer.startsWith('direct'))
      ?.sequentialP50Added;
  const lines = [
    '## The bar of issue 25 in this run',
    '',
    '| query (scenario 2) | ours ÷ better peer, dedupe off (bar 1.5×) | ours ÷ hive gateway (bar 1×) | ours with dedupe off ÷ better peer, dedupe off | ours with dedupe off ÷ hive gateway |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const query of queries) {
    const peerOff = Math.max(rps(query, 'apollo gateway') ?? 0, rps(query, 'hive gateway (dedupe off)') ?? 0);
    const hive = rps(query, 'hive gateway');
    const ours = rps(query, 'our router');
    const oursOff = rps(query, 'our router (dedupe off)');
    lines.push(
      `| ${query} | ${mark(ratio(ours, peerOff), 1.5)} | ${mark(ratio(ours, hive), 1)} | ${ratio(oursOff, peerOff)}× | ${ratio(oursOff, hive)}× |`,
    );
  }
  const me = added('our router');
  const meOff = added('our router (dedupe off)');
  lines.push(
    '',
    `One sequential client on \`me\` (scenario 1), added p50 over direct: our router ${me ?? '?'} ms${me !== undefined && me > 0.4 ? ' (over the 0.4 ms bar)' : ''}, with its dedupe off ${meOff ?? '?'} ms; bar 0.4 ms.`,
    '',
  );
  return lines;
}

export function renderReadme(): void {
  const lines: string[] = [
    '# Benchmarks',
    '',
    'One harness (`bench/run.ts`) runs every scenario on this machine, loopback only, and writes JSON to',
    '`bench/results/<scenario>.json`; this file is rendered from those (`node bench/report.ts`).',
    '',
    '```',
    'npm run bench                       # every scenario, about 10 minutes on 2 cores',
    'npm run bench -- gateways           # one scenario (direct, gateways, queries, profile, flashsale, flashsale-profile, flashsale-floor, idle, product, checkout, payment, subscriptions)',
    'npm run bench -- --smoke            # each scenario for about a second: what `npm test` runs (bench/test/smoke.test.ts)',
    'npm run bench -- profile            # scenario 2 on our router under node --cpu-prof → bench/profiles/',
    'npm run bench -- flashsale-profile  # scenario 5 under CPU profiles of router, stack and load generator → bench/profiles/',
    '```',
    '',
    'Processes: the subgraphs (all eight, real Postgres, Redis and the embedded broker, seeded) run in one child',
    'process; each gateway under test in its own; the load generator (autocannon, or a sequential loop) in another.',
    'Gateways are loaded one at a time, in interleaved rounds, after a warm-up. Every response body is compared',
    'with one fetched and checked beforehand (the data the seed makes, identical across gateways): a different',
    'body, a non-200 or a socket error counts as an error and fails the scenario.',
    '',
    'The machine may be shared with other work: compare figures within one run, as ratios, not across runs.',
    'Sections 1–4 come from one whole `npm run bench` on a quiet machine (load average 1.2 when it started,',
    '2.4 after the flash sale, nothing else running), 2026-12-06 00:02–00:12 UTC, 9 min, the router as of',
    '1d8d6d5 (passthrough of single-fetch queries, revocation copy, rate limits counted alongside the revocation',
    'check). Section 5 (the flash sale and its floor, side by side) and 6 (idle) were run later the same day on',
    'newer code; each section says when. The scenario-2 profile (`npm run bench -- profile`) is not part of a',
    'whole run; bench/profiles/ holds the latest. Sequential p50s move by a few tenths of a millisecond between',
    'runs (on a loaded machine by more): read them against the floor rows of the same run.',
    '',
  ];
  const direct = load<Compared>('direct');
  lines.push(...barTable(direct, load<Compared>('gateways')));
  lines.push('## 1. Our router vs straight to the subgraph', '');
  lines.push(
    'The same query through our router (bearer token, rate limits off; with its in-flight dedupe on, its default,',
    'and off) and straight to the subgraph that answers it, with the identity token our router would sign for',
    'that caller. With dedupe on, 32 connections of one caller asking one thing collapse into fewer subgraph',
    'fetches, so the router can out-serve the subgraph itself; the dedupe-off row is the per-request overhead.',
    'The two floor rows (`bench/procs/floor.ts`) are what any Node router pays here before doing anything: a',
    'bare node:http proxy passing the body through to the subgraph on an undici keep-alive pool, and the same',
    'with the one Redis round trip per request a router checking revocations in Redis makes (ours did until its',
    'revocation copy, `router/src/revocation-cache.ts`, ROUTER_REVOCATION_CACHE, on by default). Their sequential',
    'p50 over direct is the cost of one more process hop on this machine, the floor under any router’s added',
    'latency. All three queries here are one fetch of the client’s own operation, which our router answers after',
    'the first time by passing the subgraph’s bytes through (`router/src/passthrough.ts`, ROUTER_PASSTHROUGH, on',
    'by default): its own work is then admission, checks and the fetch, like the plain floor.',
    '',
  );
  lines.push(...(direct ? gatewayTable(direct, true) : ['Not run yet.', '']));
  const gateways = load<Compared>('gateways');
  lines.push('## 2. Gateways side by side', '');
  lines.push(
    'The same supergraph (`schema/supergraph.graphql` with this run’s subgraph URLs) and the same subgraphs:',
    '- **our router**: `node router/src/index.ts` with NODE_ENV=production, LOG_LEVEL=warn, rate limits off',
    '  (RATE_LIMIT_IP_PER_MINUTE=0 RATE_LIMIT_USER_PER_MINUTE=0), called with a real bearer token; and the same',
    '  with its in-flight dedupe of identical subgraph fetches off (SUBGRAPH_DEDUPE=false): every connection here',
    '  is one caller asking one thing, which is the best case for dedupe, so both figures are shown;',
    '- **apollo gateway**: `@apollo/gateway` + `@apollo/server` standalone, defaults (`bench/procs/apollo.ts`);',
    '- **hive gateway**: `@graphql-hive/gateway` runtime on node:http, defaults (`bench/procs/hive.ts`), and with',
    '  its in-flight subgraph request deduplication off (`transportEntries["*"].options.deduplicateInflightRequests = false`).',
    '',
    'The peers cannot sign identity tokens: each forwards a pre-signed one per subgraph (audience = subgraph) as a',
    'static header. Identity tokens live 60 s, so the harness re-signs them every 30 s and sends the new set to',
    'each peer over IPC; the peer’s header hook reads the current set (`bench/procs/peer-tokens.ts`).',
    '',
  );
  lines.push(...(gateways ? gatewayTable(gateways, false) : ['Not run yet.', '']));
  lines.push('### Profile of our router', '');
  lines.push(
    '`npm run bench -- profile` loads our router with scenario 2’s queries under `node --cpu-prof`; the profile',
    'and a self-time summary by package and function (`summariseProfile` in `bench/lib.ts`) are kept in',
    '[`bench/profiles/`](profiles/router-scenario2.md).',
    '',
  );
  const profile = load<{
    rows: { query: string; rps: number }[];
    summary: {
      busyMs: number;
      packages: { name: string; percent: number }[];
      functions: { name: string; percent: number }[];
    };
  }>('profile');
  if (profile) {
    const { summary } = profile.result;
    lines.push(
      measuredWith(profile),
      `Top self time while loaded (${summary.busyMs} ms busy): by package ${summary.packages
        .slice(0, 10)
        .map((p) => `${p.name} ${p.percent} %`)
        .join(', ')}; by function ${summary.functions
        .slice(0, 8)
        .map((f) => `\`${f.name}\` ${f.percent} %`)
        .join(', ')}.`,
      '',
    );
  }
  const queries = load<{
    constantInSize: boolean;
    repeats: number;
    rows: {
      list: string;
      size: number;
      statementsPerRequest: Record<string, number>;
      total: number;
      errors: number;
      background: number;
    }[];
  }>('queries');
  lines.push('## 3. Database statements per request of a cross-subgraph list', '');
  lines.push(
    'Every statement each subgraph’s Prisma client sends (its `onQuery` hook, in the stack process), per request,',
    'after a first request has filled the caches; averaged over the repeats.',
    '',
  );
  if (queries) {
    lines.push(
      measuredWith(queries),
      '',
      '| list | size | statements per request (by subgraph) | total | errors | background statements in the window |',
      '| --- | ---: | --- | ---: | ---: | ---: |',
    );
    for (const r of queries.result.rows)
      lines.push(
        `| ${r.list} | ${r.size} | ${Object.entries(r.statementsPerRequest)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} | ${r.total} | ${r.errors} | ${r.background} |`,
      );
    lines.push('', `Constant in list size: **${queries.result.constantInSize ? 'yes' : 'NO'}**.`, '');
  } else lines.push('Not run yet.', '');
  lines.push('## 4. Scenario scripts', '');
  lines.push(
    'Each script starts its own in-process stack, as before; the harness runs it as a child process with the',
    'arguments below (smaller than the scripts’ defaults, so the whole run stays near 10 minutes) and links the',
    'report it writes. `npm run bench:<name>` still runs a script alone with its own defaults (`bench/<name>.ts`',
    'documents them).',
    '',
  );
  lines.push('| scenario | report | arguments | seconds | exit |', '| --- | --- | --- | ---: | ---: |');
  for (const name of ['product', 'checkout', 'payment', 'subscriptions']) {
    const saved = load<{ exitCode: number; args: string[]; seconds: number; report: string }>(name);
    lines.push(
      saved
        ? `| ${name} | [${saved.result.report}](${saved.result.report}) | \`${saved.result.args.join(' ')}\` | ${saved.result.seconds} | ${saved.result.exitCode} |`
        : `| ${name} | [results/${name}.md](results/${name}.md) | not run by the harness yet | | |`,
    );
  }
  lines.push(
    '',
    'Older one-off reports: [graphql](results/graphql.md), [kafka](results/kafka.md), [faults](results/faults.md), [startup](results/startup.md), [flash sale with every service and the client in one process](results/flashsale-one-process.md) (`npm run bench:flashsale`).',
    '',
  );
  const flashsale = load<Crowds>('flashsale');
  lines.push('## 5. Flash sale through the router', '');
  lines.push(
    'A crowd buying one sale (`buyFlashSale`, the contract’s BuyFlashSale sent by its trusted-document id), every',
    'part in its own process: the subgraphs in the stack child, our router as production starts it, the buyers in',
    'the load generator (`bench/flashsale-harness.ts`, `bench/procs/flash-buyers.ts`). Each buyer is a distinct user',
    'with its own access token, idempotency key and client address; all come from 127.0.0.1, so the address goes in',
    'X-Forwarded-For as a load balancer sets it, the router trusts that hop (TRUST_PROXY=loopback, its default) and',
    'every per-IP limit applies per buyer at its production default. Open loop: arrivals at a fixed rate, latency',
    'from the scheduled send time. Each run is a fresh sale and fails the scenario unless it ends with exactly',
    '`units` orders and no purchase PENDING; "settled after" runs from the first send until then. CPU/buy is each',
    'process’s own CPU (/proc, 10 ms ticks) over the answering window ÷ buys.',
    '',
  );
  lines.push(
    ...crowdSection(flashsale, ['Analysis and before/after: [results/flashsale.md](results/flashsale.md).', '']),
  );
  const floor = load<Crowds>('flashsale-floor');
  lines.push(
    '### The floor (`npm run bench -- flashsale-floor`)',
    '',
    'The same crowds and load generator against the least two bare Node processes do for a buy in our shape',
    '(`bench/procs/flash-floor.ts`): no GraphQL, no Apollo, no kit; the edge still checks the token, counts both',
    'limits and signs the identity, the sale service still checks it and runs the real buy script. No Node router',
    'and subgraph can go below these figures on the same machine; compare the two tables of one run only.',
    '',
  );
  lines.push(...crowdSection(floor));
  const idle = load<{
    windowMs: number;
    rows: { window: number; routerMsPerSecond: number; stackMsPerSecond: number }[];
  }>('idle');
  lines.push(
    '## 6. Idle',
    '',
    'CPU of our router and of the stack process (all eight subgraphs with their consumers, outbox relays, sweeps',
    'and the embedded broker) with no traffic at all: the background work every instance pays all the time',
    '(`npm run bench -- idle`, bench/idle.ts).',
    '',
  );
  if (idle)
    lines.push(
      measuredWith(idle),
      '',
      '| window | router CPU ms/s | stack CPU ms/s |',
      '| ---: | ---: | ---: |',
      ...idle.result.rows.map(
        (r) => `| ${r.window} (${idle.result.windowMs / 1000} s) | ${r.routerMsPerSecond} | ${r.stackMsPerSecond} |`,
      ),
      '',
    );
  else lines.push('Not run yet.', '');
  writeFileSync(new URL('README.md', BENCH_DIR), lines.join('\n'));
}

if (import.meta.main) renderReadme();
