/**
 * The flash-sale crowd, run by the load generator's process (bench/procs/loadgen.ts) for the harness scenario
 * `flashsale` (bench/flashsale-harness.ts). `flashsale:prepare` mints the buyers before anything is timed: each
 * a distinct user with its own access token (signed with the key the stack's auth was started with), its own
 * idempotency key and its own client address; the request bodies and headers are built up front so the timed
 * part only sends, reads and counts. Then `flashsale:open` (arrivals at a fixed rate whatever the answers do,
 * latency from each buy's scheduled send time, so queueing anywhere — this client's pool included — is counted:
 * no coordinated omission) or `flashsale:closed` (N connections, each buying as soon as its last answer came).
 *
 * Client addresses: every buyer comes from 127.0.0.1 here, so the buyer's own address goes in X-Forwarded-For,
 * as the load balancer in front of a real deployment sets it; the router trusts that hop (its default
 * TRUST_PROXY=loopback) and every per-IP limit (the router's, the sale's) applies per buyer at its production
 * default, as it would to a crowd of distinct addresses.
 */
import { Client } from 'undici';
import { TokenMint } from '../../subgraphs/flashsale/test/helpers.ts';
import { type Message, percentile } from '../lib.ts';

/** The contract's BuyFlashSale, sent by its trusted-document id (`extensions.persistedQuery`), as a production client does. */
export interface BuyOperation {
  readonly operationName: string;
  readonly sha256Hash: string;
}

interface Prepared {
  readonly bodies: Buffer[];
  /** Flat name, value lists: what undici sends as they are. */
  readonly headers: string[][];
}

export interface Outcome {
  /** `PENDING`, `REJECTED SOLD_OUT`, `error <code>`, `error HTTP <status> (not GraphQL)`… */
  readonly answer: string;
  readonly latencyMs: number;
}

export interface CrowdFigures {
  readonly sent: number;
  /** Answers by kind. */
  readonly answers: Record<string, number>;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** p50 and p99 by answer: a grant (PENDING) waits for its database write, a rejection does not. */
  readonly latencyByAnswer: Record<string, { readonly p50: number; readonly p99: number }>;
  /** First send to last answer. */
  readonly wallMs: number;
  /** Answers per second of wall time. */
  readonly answeredPerSecond: number;
  /** Epoch ms of the first (scheduled) send: the start of "until every purchase is settled". */
  readonly startedAtEpochMs: number;
  /** This process's CPU over the timed part, per buy. */
  readonly clientCpuMsPerBuy: number;
  /** Buys sent once more, with the same idempotency key, after their connection was reset before an answer. */
  readonly resent: number;
  /** The latest an arrival was sent after its scheduled time (the generator's own lag; should stay small). */
  readonly maxSendLagMs: number;
}
export type CrowdResult = Message & CrowdFigures;

const prepared = new Map<string, Prepared>();
let mint: TokenMint | undefined;

/** An address per buyer, `10.<run>.<i>` (the run's own second octet, so buckets never carry over between runs). */
const addressOf = (run: number, i: number) => `10.${run & 255}.${(i >> 8) & 255}.${i & 255}`;

export async function prepare(message: Message): Promise<Message> {
  const { tag, count, run, saleId, accessTokenKey, operation } = message as Message & {
    tag: string;
    count: number;
    run: number;
    saleId: string;
    accessTokenKey: string;
    operation: BuyOperation;
  };
  if (count > 65_536) throw new Error('at most 65,536 buyers a run (one address each in 10.<run>.0.0/16)');
  mint ??= new TokenMint(accessTokenKey);
  const bodies: Buffer[] = [];
  const headers: string[][] = [];
  for (let i = 0; i < count; i++) {
    const buyer = await mint.buyer();
    bodies.push(
      Buffer.from(
        JSON.stringify({
          operationName: operation.operationName,
          variables: { input: { flashSaleId: saleId, idempotencyKey: `bench-${tag}-${buyer.id}` } },
          extensions: { persistedQuery: { version: 1, sha256Hash: operation.sha256Hash } },
        }),
      ),
    );
    headers.push([
      'content-type',
      'application/json',
      'authorization',
      `Bearer ${buyer.token}`,
      'x-forwarded-for',
      addressOf(run, i),
    ]);
  }
  prepared.set(tag, { bodies, headers });
  return { type: 'flashsale:prepare', count };
}

// A reset before any answer (the router closing an idle keep-alive socket just as this client reuses it) is
// resent once with the same body: the same idempotency key makes a repeat answer the first purchase again.
const RESENDABLE = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * `connections` keep-alive connections to the router, each one request at a time, handed out first come first
 * served; a buy waits here for a free one (and that wait is part of its latency). undici's Pool does the same,
 * but looks for a free connection by scanning all of them on every request, which at 1,000 connections was a
 * visible part of this client's CPU; and its `request()` API wraps every answer in a stream.
 */
class Connections {
  readonly #all: Client[];
  readonly #idle: Client[];
  readonly #waiting: ((client: Client) => void)[] = [];
  #head = 0;

  constructor(origin: string, connections: number) {
    this.#all = Array.from(
      { length: connections },
      () =>
        new Client(origin, {
          pipelining: 1,
          // Reuse a socket only well inside the router's 5 s keep-alive window.
          keepAliveTimeout: 2_000,
          keepAliveTimeoutThreshold: 3_000,
          connect: { timeout: 60_000 },
          // The router's own time-outs (15 s per operation, 30 s to receive a request) are what is measured.
          headersTimeout: 120_000,
          bodyTimeout: 120_000,
        }),
    );
    this.#idle = [...this.#all];
  }

  acquire(): Client | Promise<Client> {
    return this.#idle.pop() ?? new Promise<Client>((resolve) => this.#waiting.push(resolve));
  }

  release(client: Client): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined as never;
      next(client);
    } else this.#idle.push(client);
  }

  close(): Promise<unknown> {
    return Promise.all(this.#all.map((c) => c.close()));
  }
}

/** One POST at the dispatcher level: the status and the body as text, nothing else parsed. */
function post(client: Client, path: string, headers: string[], body: Buffer) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    client.dispatch(
      { path, method: 'POST', headers, body },
      {
        onRequestStart() {},
        onResponseStart(_, statusCode) {
          status = statusCode;
        },
        onResponseData(_, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({ status, text: (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString() });
        },
        onResponseError(_, error) {
          reject(error);
        },
      },
    );
  });
}

async function buyOnce(pool: Connections, path: string, body: Buffer, headers: string[], count: () => void) {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.acquire();
    try {
      const response = await post(client, path, headers, body);
      let parsed: { data?: { buyFlashSale?: { status: string; reason: string | null } }; errors?: unknown[] };
      try {
        parsed = JSON.parse(response.text);
      } catch {
        return `error HTTP ${response.status} (not GraphQL)`;
      }
      const purchase = parsed.data?.buyFlashSale;
      if (purchase) return purchase.reason ? `${purchase.status} ${purchase.reason}` : purchase.status;
      const first = parsed.errors?.[0] as { extensions?: { code?: unknown } } | undefined;
      const code = first?.extensions?.code;
      return `error ${typeof code === 'string' ? code : `HTTP ${response.status}`}`;
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      if (attempt === 1 && RESENDABLE.has(code)) {
        count();
        continue;
      }
      return `error ${code}`;
    } finally {
      pool.release(client);
    }
  }
}

function summarise(
  outcomes: readonly Outcome[],
  wallMs: number,
  startedAtEpochMs: number,
  cpu: NodeJS.CpuUsage,
  extra: { resent: number; maxSendLagMs: number },
): CrowdFigures {
  const sorted = outcomes.map((o) => o.latencyMs).sort((a, b) => a - b);
  const at = (p: number) => percentile(sorted, p);
  const answers: Record<string, number> = {};
  const byAnswer = new Map<string, number[]>();
  for (const o of outcomes) {
    answers[o.answer] = (answers[o.answer] ?? 0) + 1;
    byAnswer.set(o.answer, [...(byAnswer.get(o.answer) ?? []), o.latencyMs]);
  }
  const latencyByAnswer = Object.fromEntries(
    [...byAnswer].map(([answer, xs]) => {
      xs.sort((a, b) => a - b);
      return [answer, { p50: percentile(xs, 50), p99: percentile(xs, 99) }];
    }),
  );
  return {
    sent: outcomes.length,
    answers,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: sorted.at(-1) ?? Number.NaN,
    latencyByAnswer,
    wallMs,
    answeredPerSecond: (outcomes.length / wallMs) * 1000,
    startedAtEpochMs,
    clientCpuMsPerBuy: (cpu.user + cpu.system) / 1000 / outcomes.length,
    ...extra,
  };
}

function take(tag: string): Prepared {
  const buyers = prepared.get(tag);
  if (!buyers) throw new Error(`no buyers prepared as ${tag}`);
  prepared.delete(tag);
  return buyers;
}

/** Arrivals at `rate` per second, one buyer each, until the prepared buyers are used up. */
export async function openLoop(message: Message): Promise<CrowdResult> {
  const { tag, url, rate, connections } = message as Message & {
    tag: string;
    url: string;
    rate: number;
    connections: number;
  };
  const { bodies, headers } = take(tag);
  const target = new URL(url);
  const pool = new Connections(target.origin, connections);
  let resent = 0;
  const counted = () => resent++;
  const intervalMs = 1000 / rate;
  const pending: Promise<Outcome>[] = [];
  let maxSendLagMs = 0;
  const cpu = process.cpuUsage();
  const startedAtEpochMs = Date.now();
  const started = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const scheduled = started + i * intervalMs;
    const wait = scheduled - performance.now();
    // A timer cannot fire every 0.5 ms: sleep only when the next arrival is ≥ 1 ms away, and send every
    // arrival already due at once. Latency counts from `scheduled` either way.
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - scheduled);
    pending.push(
      buyOnce(pool, target.pathname, bodies[i]!, headers[i]!, counted).then((answer) => ({
        answer,
        latencyMs: performance.now() - scheduled,
      })),
    );
  }
  const outcomes = await Promise.all(pending);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await pool.close();
  return {
    type: 'flashsale:open',
    ...summarise(outcomes, wallMs, startedAtEpochMs, used, { resent, maxSendLagMs }),
  };
}

/** `connections` buyers at a time, each connection buying again as soon as its answer came. */
export async function closedLoop(message: Message): Promise<CrowdResult> {
  const { tag, url, connections } = message as Message & { tag: string; url: string; connections: number };
  const { bodies, headers } = take(tag);
  const target = new URL(url);
  const pool = new Connections(target.origin, connections);
  let resent = 0;
  const counted = () => resent++;
  const outcomes: Outcome[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const startedAtEpochMs = Date.now();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(connections, bodies.length) }, async () => {
      while (next < bodies.length) {
        const i = next++;
        const t0 = performance.now();
        const answer = await buyOnce(pool, target.pathname, bodies[i]!, headers[i]!, counted);
        outcomes.push({ answer, latencyMs: performance.now() - t0 });
      }
    }),
  );
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await pool.close();
  return {
    type: 'flashsale:closed',
    ...summarise(outcomes, wallMs, startedAtEpochMs, used, { resent, maxSendLagMs: 0 }),
  };
}
