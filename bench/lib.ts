import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** Small helpers shared by the benchmarks: percentiles and a bounded closed-loop load driver. */
export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[index]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly perSecond: number;
  /**
   * CPU time per task, in ms: of this whole process (client and every in-process server) unless `measure` was
   * given another process's clock. Steadier than latency on a busy host.
   */
  readonly cpuPerTask: number;
}

/** This process's CPU time so far, in µs. */
const ownCpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/**
 * Runs `task` `total` times with `concurrency` workers (a bounded, loopback-only load) and summarises latencies;
 * `cpuUs` reads the CPU clock (µs) the summary charges per task: this process's unless given a server's.
 */
export async function measure(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
  cpuUs: () => number | Promise<number> = ownCpuUs,
): Promise<LatencySummary> {
  const latencies: number[] = [];
  let next = 0;
  const cpuStarted = await cpuUs();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = (await cpuUs()) - cpuStarted;
  latencies.sort((a, b) => a - b);
  return {
    count: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    perSecond: latencies.length / elapsed,
    cpuPerTask: cpu / 1000 / latencies.length,
  };
}

export const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

// ---- The harness (`npm run bench`): child processes, the load generator, results. ----

export const BENCH_DIR = new URL('./', import.meta.url);
const ROOT = new URL('../', import.meta.url);

/** Messages between the harness and its children: `{ type, ...payload }` over the IPC channel. */
export interface Message {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface Child {
  readonly process: ChildProcess;
  readonly name: string;
  send(message: Message): void;
  /** The next message of `type` (rejects when the child exits first). */
  next<T extends Message>(type: string, timeoutMs?: number): Promise<T>;
  /** The end of its stderr (why it died). */
  stderr(): string;
  /** Asks it to stop (SIGTERM, or a `stop` message for the harness's own children) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `script` (a path under the repository) on this Node as its own process, with an IPC channel. Its
 * stderr is kept (and shown when it dies early); stdout is dropped so a chatty child costs nothing to read.
 */
export function startChild(
  name: string,
  script: string,
  options: { args?: readonly string[]; env?: Record<string, string | undefined>; execArgv?: readonly string[] } = {},
): Child {
  const child = fork(new URL(script, ROOT), [...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    execArgv: ['--disable-warning=TimeoutNegativeWarning', ...(options.execArgv ?? [])],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    name,
    send: (message) => child.send(message),
    stderr: () => stderr,
    next<T extends Message>(type: string, timeoutMs = 120_000) {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => fail(new Error(`${name}: no '${type}' within ${timeoutMs} ms\n${stderr}`)),
          timeoutMs,
        );
        const onMessage = (message: Message) => {
          if (message.type === 'error') fail(new Error(`${name}: ${String(message['message'])}`));
          else if (message.type === type) {
            cleanup();
            resolve(message as T);
          }
        };
        const onExit = (code: number | null) => fail(new Error(`${name} exited (${code}) before '${type}'\n${stderr}`));
        const cleanup = () => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        const fail = (err: Error) => {
          cleanup();
          reject(err);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** In a child: answers the parent's messages with `handler` (an `error` message when it throws). */
export function serveParent(handler: (message: Message) => Promise<Message | undefined>): void {
  process.on('message', (message: Message) => {
    handler(message).then(
      (reply) => reply && process.send?.(reply),
      (err: unknown) => process.send?.({ type: 'error', message: err instanceof Error ? err.stack : String(err) }),
    );
  });
}

/** A GraphQL request as the load generator sends it. */
export interface LoadRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The exact body every response must have: anything else (an error, a different payload) is an error. */
  readonly expectBody: string;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Why requests failed, when some did: counts by kind and the first wrong body seen. */
  readonly failures?: Record<string, number | string>;
}

/** Waits until `url` answers a GraphQL `__typename` query (a gateway's start-up includes loading the supergraph). */
export async function waitForGraphQL(
  url: string,
  options: { headers?: Record<string, string>; child?: Child; timeoutMs?: number } = {},
) {
  const { headers = {}, child, timeoutMs = 60_000 } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child && child.process.exitCode !== null) throw new Error(`${child.name} exited: ${child.stderr()}`);
    try {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      if (r.ok) return;
      last = `${r.status} ${await r.text()}`;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not come up: ${String(last)}`);
}

/** POSTs one request and returns the raw body text (the reference a run's responses are compared with). */
export async function fetchBody(request: Omit<LoadRequest, 'expectBody'>): Promise<string> {
  const r = await fetch(request.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...request.headers },
    body: request.body,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${request.url}: ${r.status} ${text.slice(0, 300)}`);
  return text;
}

/** Parses a GraphQL response body and insists on data without errors. */
export function dataOf(body: string): Record<string, unknown> {
  const parsed = JSON.parse(body) as { data?: Record<string, unknown> | null; errors?: unknown[] };
  if (parsed.errors?.length || !parsed.data) throw new Error(`GraphQL errors: ${body.slice(0, 500)}`);
  return parsed.data;
}

export function versionOf(pkg: string): string {
  const text = readFileSync(new URL(`node_modules/${pkg}/package.json`, ROOT), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export function machine() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    versions: Object.fromEntries(
      ['@apollo/gateway', '@apollo/server', '@graphql-hive/gateway', '@graphql-hive/gateway-runtime', 'autocannon'].map(
        (pkg) => [pkg, versionOf(pkg)],
      ),
    ),
  };
}

/**
 * Where results go: `bench/results/`, or BENCH_RESULTS_DIR (the smoke test writes to a temporary directory so
 * its tiny runs never overwrite a real run's figures).
 */
export function resultFile(name: string): URL {
  const env = process.env['BENCH_RESULTS_DIR'];
  const dir = env ? new URL(`file://${env.endsWith('/') ? env : `${env}/`}`) : new URL('results/', BENCH_DIR);
  mkdirSync(dir, { recursive: true });
  return new URL(name, dir);
}

/** Writes `bench/results/<name>.json` with the machine, the command and the date alongside `result`. */
export function writeResult(name: string, command: string, result: unknown): string {
  const file = resultFile(`${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), command, machine: machine(), result }, null, 2)}\n`,
  );
  return file.pathname;
}

/** Median of several rounds' values (rounds are interleaved across gateways, so each saw the same drift). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
export interface CpuProfile {
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a script lives, by package (`@apollo/gateway`, `graphql`, `router`, `node:internal`…). */
export function areaOf(url: string, functionName = ''): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:internal';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const rel = url.replace(/^file:\/\//, '').replace(ROOT.pathname, '');
  return rel
    .split('/')
    .slice(0, rel.startsWith('packages/') || rel.startsWith('subgraphs/') ? 2 : 1)
    .join('/');
}

/**
 * Self time by function and by package from a V8 `.cpuprofile`, largest first, as percentages of the busy
 * samples (idle time, the process waiting on I/O, is left out). `window` keeps only the samples taken between
 * two instants of the monotonic clock (`process.hrtime` in µs, the clock V8 stamps samples with on Linux), so
 * another process can cut start-up and shutdown off.
 */
export function summariseProfile(profile: CpuProfile, window?: { fromUs: number; toUs: number }, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (const [i, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const where = url ? `${url.replace(ROOT.href, '').replace(/^.*node_modules\//, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + us);
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, percent: Math.round((us / (busy || 1)) * 1000) / 10 }));
  return {
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    functions: rank(fn),
    packages: rank(area),
  };
}

/** Now on the monotonic clock, in µs (comparable with a V8 CPU profile's timestamps of another process). */
/** A profile summary as the two markdown tables (by package or area, by function) every profile report shows. */
export function profileTables(summary: Pick<ReturnType<typeof summariseProfile>, 'packages' | 'functions'>): string[] {
  return [
    '| package / area | self % |',
    '| --- | ---: |',
    ...summary.packages.map((p) => `| ${p.name} | ${p.percent} |`),
    '',
    '| function | self % |',
    '| --- | ---: |',
    ...summary.functions.map((f) => `| \`${f.name.replaceAll('|', '\\|')}\` | ${f.percent} |`),
    '',
  ];
}

/** CPU ms (user + system) a process has used so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  return cpuMsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

function cpuMsOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5), utime and stime; `fields` starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * CPU ms used so far by every process of the database and cache servers on this machine (`postgres`,
 * `redis-server`), from /proc. A Postgres backend that exits between two readings takes its CPU with it, so
 * a difference is a lower bound; connection pools keep theirs open for a whole run.
 */
export function serverCpuMs(): { postgres: number; redis: number } {
  const total = { postgres: 0, redis: 0 };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const server = name === 'postgres' ? 'postgres' : name === 'redis-server' ? 'redis' : undefined;
    if (server) total[server] += cpuMsOfStat(stat);
  }
  return total;
}

export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

export const ratio = (a: number, b: number) => (b ? Math.round((a / b) * 100) / 100 : Number.NaN);

/** What the stack child (bench/procs/stack.ts) reports once it is up and seeded. */
export interface StackReady extends Message {
  readonly internalSecret: string;
  /** The stack's own in-process router (scenario 3 counts statements through it). */
  readonly routerUrl: string;
  /** GraphQL URL of every subgraph, by name. */
  readonly subgraphUrls: Record<string, string>;
  /** Enough environment for another process to join the stack (Redis, Kafka, databases, data directory). */
  readonly env: Record<string, string>;
  readonly seed: { readonly userId: string; readonly token: string; readonly productIds: readonly string[] };
  /** The private key (PKCS#8 PEM) the stack's auth signs access tokens with: the load generator mints buyers with it. */
  readonly accessTokenKey: string;
}

/** The processes every harness scenario shares: the subgraphs (one child) and the load generator (another). */
export interface Harness {
  readonly stack: Child;
  readonly ready: StackReady;
  readonly loadgen: Child;
  readonly smoke: boolean;
  /** Runs one load job in the load generator's process. */
  load(
    kind: 'autocannon' | 'sequential',
    request: LoadRequest,
    connections: number,
    seconds: number,
  ): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Starts the stack child; again when a port it was handed got taken meanwhile (the machine is shared). */
async function startStackChild(smoke: boolean, attempts = 3): Promise<{ stack: Child; ready: StackReady }> {
  const stack = startChild('stack', 'bench/procs/stack.ts', { env: smoke ? { BENCH_PRODUCTS: '55' } : {} });
  try {
    return { stack, ready: await stack.next<StackReady>('ready', 300_000) };
  } catch (err) {
    await stack.stop();
    if (attempts > 1 && String(err).includes('EADDRINUSE')) return startStackChild(smoke, attempts - 1);
    throw err;
  }
}

export async function startHarness(smoke: boolean): Promise<Harness> {
  const loadgen = startChild('loadgen', 'bench/procs/loadgen.ts');
  let stack: Child | undefined;
  try {
    const [started] = await Promise.all([startStackChild(smoke), loadgen.next('ready')]);
    const { ready } = started;
    stack = started.stack;
    const child = started.stack;
    return {
      stack: child,
      ready,
      loadgen,
      smoke,
      async load(kind, request, connections, seconds) {
        const result = loadgen.next<LoadResult & Message>('result', (seconds + 60) * 1000);
        loadgen.send({ type: kind, request, connections, seconds });
        const { type: _, ...rest } = await result;
        return rest;
      },
      async close() {
        await loadgen.stop();
        await child.stop();
      },
    };
  } catch (err) {
    await loadgen.stop();
    await stack?.stop();
    throw err;
  }
}
