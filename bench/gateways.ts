/**
 * Scenarios 1 and 2 of the harness, and the router profile.
 * - `direct`: our router vs straight to the subgraph with the same identity (`me`, `product(id)`,
 *   `products(first: 20)`): rps, p50, p99 at 32 connections, and p50/p99 of one sequential client.
 * - `gateways`: our router, plain Apollo Gateway + Apollo Server, Hive Gateway (defaults, and with in-flight
 *   dedupe off) side by side on the same supergraph and the same subgraphs.
 * - `profile`: scenario 2's queries against our router started under `node --cpu-prof`.
 * Every gateway runs in its own child process, the load generator in another, the subgraphs in a third; one
 * gateway is loaded at a time and rounds are interleaved, so drift in machine load hits every gateway alike.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { IDENTITY_HEADER, IdentitySigner, SUBGRAPH_NAMES } from '@mall/platform';
import { freePort } from '@mall/platform/testing';
import {
  BENCH_DIR,
  type Child,
  type CpuProfile,
  dataOf,
  fetchBody,
  type Harness,
  type LoadRequest,
  type LoadResult,
  median,
  monotonicUs,
  profileTables,
  ratio,
  resultFile,
  startChild,
  summariseProfile,
  waitForGraphQL,
} from './lib.ts';

const CONNECTIONS = 32;
const OURS = 'our router';
const OURS_NO_DEDUPE = 'our router (dedupe off)';

/** Durations in seconds: the full run fits the harness's 10 minutes; the smoke run only proves it works. */
export function timings(smoke: boolean) {
  return smoke
    ? { warm: 1, seconds: 1, sequential: 0.5, rounds: 1 }
    : { warm: 2, seconds: 3, sequential: 2, rounds: 2 };
}

interface Query {
  readonly name: string;
  /** Which subgraph answers it alone (scenario 1 sends it there directly). */
  readonly subgraph?: string;
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  /** Throws unless the data is what the seed makes it (so an empty or wrong answer never passes as fast). */
  check(data: Record<string, unknown>): void;
}

function must(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

type Json = Record<string, any>;

export function queries(h: Harness): Record<string, Query> {
  const { userId, productIds } = h.ready.seed;
  const productId = productIds[5]!;
  const contractMe = /query Me \{[\s\S]*?\n\}/.exec(
    readFileSync(new URL('../../shared/contract/operations.graphql', BENCH_DIR), 'utf8'),
  )?.[0];
  must(contractMe, 'the contract has no Me operation');
  return {
    me: {
      name: 'me',
      subgraph: 'user',
      query: 'query BenchMe { me { id email name roles createdAt } }',
      check: (d: Json) => must(d['me']?.id === userId, 'me is not the seeded shopper'),
    },
    product: {
      name: 'product(id)',
      subgraph: 'product',
      query: 'query BenchProduct($id: ID!) { product(id: $id) { id name description price { amount currency } } }',
      variables: { id: productId },
      check: (d: Json) => must(d['product']?.id === productId, 'product(id) is not the seeded product'),
    },
    products: {
      name: 'products(first: 20)',
      subgraph: 'product',
      query: 'query BenchProducts { products(first: 20) { edges { node { id name price { amount currency } } } } }',
      check: (d: Json) => must(d['products']?.edges?.length === 20, 'products(first: 20) has not 20 edges'),
    },
    merchants: {
      name: 'products(first: 20) { merchant { name } }',
      query: 'query BenchMerchants { products(first: 20) { edges { node { id name merchant { id name } } } } }',
      check: (d: Json) =>
        must(
          d['products']?.edges?.length === 20 &&
            d['products'].edges.every((e: Json) => e['node']?.merchant?.name === 'Bench Shopper'),
          'a product without its merchant',
        ),
    },
    contractMe: {
      name: 'contract Me (user + cart + order)',
      query: contractMe,
      check: (d: Json) =>
        must(
          d['me']?.orders?.totalCount === 3 && d['me'].orders.edges.length === 3 && d['me'].cart?.itemCount > 0,
          'Me without its 3 orders and a cart',
        ),
    },
  };
}

/** A gateway (or a subgraph called directly) as the load generator sees it. */
export interface Target {
  readonly name: string;
  /** The URL and headers of a request; the headers are asked for anew each run (identity tokens expire). */
  request(query: Query): { url: string; headers: Record<string, string> };
  readonly child?: Child;
}

/** Signs identity tokens for the seeded shopper, as our router would for each subgraph (audience = name). */
function identities(h: Harness) {
  const signer = new IdentitySigner(h.ready.internalSecret, 'router');
  return () =>
    Object.fromEntries(
      SUBGRAPH_NAMES.map((name) => [
        name,
        signer.signNow({ userId: h.ready.seed.userId, roles: ['CUSTOMER', 'MERCHANT'], audience: name }),
      ]),
    );
}

/** The checked-in supergraph with this run's subgraph URLs, for every gateway alike. */
export function writeSupergraph(h: Harness): string {
  let sdl = readFileSync(new URL('../schema/supergraph.graphql', BENCH_DIR), 'utf8');
  for (const [name, url] of Object.entries(h.ready.subgraphUrls))
    sdl = sdl.replace(new RegExp(`(@join__graph\\(name: "${name}", url: ")[^"]*`), `$1${url}`);
  const file = join(tmpdir(), `mall-bench-supergraph-${process.pid}.graphql`);
  writeFileSync(file, sdl);
  return file;
}

/**
 * Our router as production starts it (`node router/src/index.ts`), in its own process: rate limits off (these
 * scenarios are one caller on one address), or at their production defaults (`limits: 'production'`, for a
 * crowd of callers whose addresses come in X-Forwarded-For); `env` adds settings (TRUSTED_DOCUMENTS…).
 */
export async function startOurRouter(
  h: Harness,
  supergraph: string,
  options: {
    execArgv?: readonly string[];
    dedupe?: boolean;
    limits?: 'off' | 'production';
    env?: Record<string, string>;
  } = {},
): Promise<Target> {
  const port = await freePort();
  const dedupe = options.dedupe ?? true;
  const child = startChild('router', 'router/src/index.ts', {
    execArgv: options.execArgv ?? [],
    env: {
      // Its in-flight dedupe collapses identical fetches of one caller (every connection here is the same
      // caller asking the same thing), so it is measured with it off too.
      ...(dedupe ? {} : { SUBGRAPH_DEDUPE: 'false' }),
      ...h.ready.env,
      NODE_ENV: 'production',
      MALL_INTERNAL_SECRET: h.ready.internalSecret,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_EPHEMERAL_PORTS: 'true',
      SHUTDOWN_DRAIN_MS: '0',
      LOG_LEVEL: 'warn',
      ...(options.limits === 'production' ? {} : { RATE_LIMIT_IP_PER_MINUTE: '0', RATE_LIMIT_USER_PER_MINUTE: '0' }),
      SUPERGRAPH_PATH: supergraph,
      ...Object.fromEntries(
        Object.entries(h.ready.subgraphUrls).map(([name, url]) => [`${name.toUpperCase()}_URL`, url]),
      ),
      ...options.env,
      ...routerEnvOverride(),
    },
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  const headers = { authorization: `Bearer ${h.ready.seed.token}` };
  await waitForGraphQL(url, { headers, child });
  return { name: dedupe ? OURS : OURS_NO_DEDUPE, child, request: () => ({ url, headers }) };
}

async function startPeer(
  name: string,
  script: string,
  supergraph: string,
  tokens: () => Record<string, string>,
  flag?: string,
) {
  const port = await freePort();
  const child = startChild(name, script, {
    args: [String(port), supergraph, ...(flag ? [flag] : [])],
    env: { BENCH_IDENTITY_TOKENS: JSON.stringify(tokens()) },
  });
  await child.next('ready');
  const url = `http://127.0.0.1:${port}/graphql`;
  await waitForGraphQL(url, { child });
  return { name, child, request: () => ({ url, headers: {} }) } satisfies Target;
}

/** Fetches one answer through `target`, checks it, and returns the exact body every loaded response must match. */
async function expected(target: Target, query: Query, reference?: { data: unknown }): Promise<LoadRequest> {
  const { url, headers } = target.request(query);
  const body = JSON.stringify({ query: query.query, variables: query.variables ?? {} });
  const text = await fetchBody({ url, headers, body });
  const data = dataOf(text);
  query.check(data);
  if (reference && !isDeepStrictEqual(data, reference.data))
    throw new Error(`${target.name} answers ${query.name} differently from the others: ${text.slice(0, 300)}`);
  return { url, headers, body, expectBody: text };
}

export interface Row {
  readonly query: string;
  readonly target: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  readonly errors: number;
  /** The failures of the runs that had some (kinds, first wrong body). */
  readonly failures?: readonly Record<string, number | string>[];
  readonly sequential?: {
    readonly p50: number;
    readonly p99: number;
    readonly requests: number;
    readonly errors: number;
  };
}

/** Warms every target on `query`, then measures them in interleaved rounds; medians of the rounds. */
async function compare(h: Harness, query: Query, targets: readonly Target[], withSequential: boolean): Promise<Row[]> {
  const t = timings(h.smoke);
  const first = dataOf(
    await fetchBody({
      ...targets[0]!.request(query),
      body: JSON.stringify({ query: query.query, variables: query.variables ?? {} }),
    }),
  );
  const reference = { data: first };
  const runs = new Map<string, { load: LoadResult[]; seq: LoadResult[] }>(
    targets.map((x) => [x.name, { load: [], seq: [] }]),
  );
  for (const target of targets)
    await h.load('autocannon', await expected(target, query, reference), CONNECTIONS, t.warm);
  for (let round = 0; round < t.rounds; round++) {
    for (const target of targets) {
      const request = await expected(target, query, reference);
      runs.get(target.name)!.load.push(await h.load('autocannon', request, CONNECTIONS, t.seconds));
      if (withSequential) runs.get(target.name)!.seq.push(await h.load('sequential', request, 1, t.sequential));
    }
  }
  return targets.map((target) => {
    const { load, seq } = runs.get(target.name)!;
    const sum = (xs: LoadResult[], k: 'requests' | 'errors') => xs.reduce((a, x) => a + x[k], 0);
    return {
      query: query.name,
      target: target.name,
      rps: Math.round(median(load.map((x) => x.rps))),
      p50: median(load.map((x) => x.p50)),
      p99: median(load.map((x) => x.p99)),
      requests: sum(load, 'requests'),
      errors: sum(load, 'errors') + sum(seq, 'errors'),
      ...(failuresOf([...load, ...seq]).length ? { failures: failuresOf([...load, ...seq]) } : {}),
      ...(withSequential
        ? {
            sequential: {
              p50: round2(median(seq.map((x) => x.p50))),
              p99: round2(median(seq.map((x) => x.p99))),
              requests: sum(seq, 'requests'),
              errors: sum(seq, 'errors'),
            },
          }
        : {}),
    };
  });
}

const failuresOf = (runs: readonly LoadResult[]) => runs.flatMap((r) => (r.failures ? [r.failures] : []));
const round2 = (x: number) => Math.round(x * 100) / 100;

const FLOOR = 'floor: bare Node proxy';
const FLOOR_REVOCATION = 'floor: bare Node proxy + revocation lookup';

/**
 * The floor of scenario 1 (`bench/procs/floor.ts`): a Node proxy that only passes the body through to the
 * subgraph, without and with one Redis round trip per request (what our router paid before its revocation copy,
 * and still pays with ROUTER_REVOCATION_CACHE=false). The sequential time it
 * adds over direct is what one more process hop costs on this machine, whatever the router does.
 */
async function startFloor(h: Harness, mode: 'plain' | 'revocation'): Promise<Target> {
  const port = await freePort();
  const child = startChild(`floor (${mode})`, 'bench/procs/floor.ts', {
    args: [String(port), mode],
    env: {
      ...h.ready.env,
      MALL_INTERNAL_SECRET: h.ready.internalSecret,
      BENCH_FLOOR_SUBGRAPHS: JSON.stringify(h.ready.subgraphUrls),
      BENCH_FLOOR_USER: h.ready.seed.userId,
    },
  });
  await child.next('ready');
  return {
    name: mode === 'plain' ? FLOOR : FLOOR_REVOCATION,
    child,
    request: (query) => ({ url: `http://127.0.0.1:${port}/${query.subgraph}`, headers: {} }),
  };
}

/**
 * BENCH_ROUTER_ENV="NAME=value,…": variables set on every router this harness starts, last, for A/B runs of a
 * router switch (`BENCH_ROUTER_ENV=ROUTER_REVOCATION_CACHE=false npm run bench -- direct`).
 */
function routerEnvOverride(spec = process.env['BENCH_ROUTER_ENV'] ?? ''): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of spec.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_ROUTER_ENV: "${pair}" is not NAME=value`);
    env[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return env;
}

/** Scenario 1: our router vs the subgraph itself, called with the identity token our router would send. */
export async function scenarioDirect(h: Harness) {
  const supergraph = writeSupergraph(h);
  const routers = await Promise.all([startOurRouter(h, supergraph), startOurRouter(h, supergraph, { dedupe: false })]);
  const floors = await Promise.all([startFloor(h, 'plain'), startFloor(h, 'revocation')]).catch(async (err) => {
    await Promise.all(routers.map((r) => r.child?.stop()));
    throw err;
  });
  const sign = identities(h);
  try {
    const q = queries(h);
    const rows: Row[] = [];
    for (const query of [q['me']!, q['product']!, q['products']!]) {
      const direct: Target = {
        name: `direct to ${query.subgraph}`,
        request: () => ({
          url: h.ready.subgraphUrls[query.subgraph!]!,
          headers: { [IDENTITY_HEADER]: sign()[query.subgraph!]! },
        }),
      };
      rows.push(...(await compare(h, query, [...routers, ...floors, direct], true)));
    }
    return {
      connections: CONNECTIONS,
      timings: timings(h.smoke),
      rows,
      ratios: [OURS, OURS_NO_DEDUPE, FLOOR, FLOOR_REVOCATION].flatMap((ours) => ratiosOf(rows, ours, /^direct/)),
    };
  } finally {
    await Promise.all([...routers, ...floors].map((r) => r.child?.stop()));
  }
}

/** ours / peer for one query: rps (higher is better for ours) and p50, p99 (lower is better). */
export interface Ratio {
  readonly query: string;
  readonly ours: string;
  readonly peer: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly sequentialP50Added?: number;
}

function ratiosOf(rows: readonly Row[], ours: string, peer: RegExp) {
  const out: Ratio[] = [];
  for (const row of rows) {
    if (!peer.test(row.target)) continue;
    const mine = rows.find((r) => r.query === row.query && r.target === ours)!;
    out.push({
      query: row.query,
      ours,
      peer: row.target,
      rps: ratio(mine.rps, row.rps),
      p50: ratio(mine.p50, row.p50),
      p99: ratio(mine.p99, row.p99),
      ...(mine.sequential && row.sequential
        ? { sequentialP50Added: round2(mine.sequential.p50 - row.sequential.p50) }
        : {}),
    });
  }
  return out;
}

/** Starts the peers; the harness re-signs their identity tokens every 30 s (tokens live 60 s). */
async function startPeers(h: Harness, supergraph: string) {
  const sign = identities(h);
  const peers = await Promise.all([
    startPeer('apollo gateway', 'bench/procs/apollo.ts', supergraph, sign),
    startPeer('hive gateway', 'bench/procs/hive.ts', supergraph, sign),
    startPeer('hive gateway (dedupe off)', 'bench/procs/hive.ts', supergraph, sign, '--no-dedupe'),
  ]);
  const refresh = setInterval(() => {
    const tokens = sign();
    for (const peer of peers) peer.child.send({ type: 'tokens', tokens });
  }, 30_000);
  return {
    peers,
    async stop() {
      clearInterval(refresh);
      await Promise.all(peers.map((p) => p.child.stop()));
    },
  };
}

const SCENARIO_2 = ['me', 'product', 'merchants', 'contractMe'] as const;

/** Scenario 2: the gateways side by side on the same supergraph and subgraphs. */
export async function scenarioGateways(h: Harness) {
  const supergraph = writeSupergraph(h);
  const routers = await Promise.all([startOurRouter(h, supergraph), startOurRouter(h, supergraph, { dedupe: false })]);
  const peers = await startPeers(h, supergraph);
  try {
    const q = queries(h);
    const rows: Row[] = [];
    for (const name of SCENARIO_2) rows.push(...(await compare(h, q[name]!, [...routers, ...peers.peers], false)));
    return {
      connections: CONNECTIONS,
      timings: timings(h.smoke),
      rows,
      ratios: [...ratiosOf(rows, OURS, /gateway/), ...ratiosOf(rows, OURS_NO_DEDUPE, /gateway/)],
    };
  } finally {
    await peers.stop();
    await Promise.all(routers.map((r) => r.child?.stop()));
  }
}

/**
 * Scenario 2's queries against our router alone, started under `node --cpu-prof`; the profile lands in
 * bench/profiles/ (or the results directory of a smoke run) with a self-time summary beside it.
 */
export async function scenarioProfile(h: Harness) {
  const supergraph = writeSupergraph(h);
  const dir = h.smoke ? resultFile('profiles/').pathname : new URL('profiles/', BENCH_DIR).pathname;
  const name = 'router-scenario2.cpuprofile';
  const router = await startOurRouter(h, supergraph, {
    execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`],
  });
  const q = queries(h);
  const t = timings(h.smoke);
  const rows: { query: string; rps: number; errors: number }[] = [];
  const window = { fromUs: 0, toUs: 0 };
  try {
    // A first pass warms the router; the summary covers the second pass only.
    for (const key of SCENARIO_2) await h.load('autocannon', await expected(router, q[key]!), CONNECTIONS, t.warm);
    window.fromUs = monotonicUs();
    for (const key of SCENARIO_2) {
      const request = await expected(router, q[key]!);
      const result = await h.load('autocannon', request, CONNECTIONS, t.seconds * 2);
      rows.push({ query: q[key]!.name, rps: Math.round(result.rps), errors: result.errors });
    }
    window.toUs = monotonicUs();
  } finally {
    // A clean exit (SIGTERM → the router's own shutdown) is what makes Node write the profile.
    await router.child?.stop();
  }
  const profile = JSON.parse(readFileSync(`${dir}${name}`, 'utf8')) as CpuProfile;
  const summary = summariseProfile(profile, window);
  const lines = [
    `# Our router under scenario 2's load: where the CPU goes (${new Date().toISOString()})`,
    '',
    `Profile: \`${name}\` (open it in Chrome DevTools → Performance, or speedscope). Loaded at ${CONNECTIONS} connections, ${t.seconds * 2} s per query: ${rows.map((r) => `${r.query} ${r.rps} rps`).join(', ')}. Self time as a share of the busy samples of the measured pass only (start-up and warm-up cut off): ${summary.busyMs} ms busy, ${summary.idleMs} ms idle left out.`,
    '',
    ...profileTables(summary),
  ];
  writeFileSync(`${dir}router-scenario2.md`, lines.join('\n'));
  return { profile: `${dir}${name}`, rows, summary };
}
