/**
 * Test helpers shared by every package's and subgraph's tests (`@mall/platform/testing`); never imported by
 * production code, so the barrel does not export them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { type DefinitionNode, parse, print } from 'graphql';
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseUrlFor, dropDatabase, ensureDatabase, migrateDatabase } from '../db/migrator.ts';
import { AppError } from '../errors.ts';
import { MONEY_SDL } from '../money.ts';

/** The local Postgres server tests use (trust auth), unless DATABASE_URL names another. */
export const TEST_SERVER_URL = process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';

/** Unique across test files running at once and across runs: pid, time and randomness. */
const uniqueSuffix = () => `${process.pid}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

/**
 * A TCP port that was free a moment ago on 127.0.0.1. For tests that must know a port before the server
 * that takes it starts (a config naming its peers, a broker restarted on the same address).
 *
 * Taken below the kernel's ephemeral range, not from it: every outgoing connection of the suite's parallel
 * test files (Postgres, Redis, HTTP clients) gets its local port from that range, and one of them could take
 * a port handed out here before its server listens (seen in CI as EADDRINUSE at a stack's start).
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  if (below > PORTS_FROM + 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = PORTS_FROM + Math.floor(Math.random() * (below - PORTS_FROM));
      if (await canListen(port)) return port;
    }
  }
  return listenOnce(0);
}

const PORTS_FROM = 10_000;

/** The first port of the kernel's ephemeral range (Linux; elsewhere IANA's 49152). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 49_152;
  } catch {
    return 49_152;
  }
}

const canListen = (port: number) =>
  listenOnce(port).then(
    () => true,
    () => false,
  );

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: taken } = server.address() as { port: number };
      server.close(() => resolve(taken));
    });
  });
}

/**
 * One Lua call walks the whole keyspace and unlinks every key matching the pattern, so the deletion is atomic
 * like the FLUSHALL it stands in for. A SCAN driven from here took many round trips while the stack kept
 * writing: auth's revocation mirror can reload the denylist and its generation marker mid-walk, and the walk
 * may then delete the fresh denylist entry but miss the fresh marker — a state no real flush produces, in which
 * the router rightly admits a logged-out token (the likely cause of a CI failure of "a logged-out token stays
 * refused after Redis is flushed").
 */
const DELETE_MATCHING = `
local cursor, deleted = '0', 0
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  local keys = page[2]
  for i = 1, #keys, 500 do
    redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
  end
  deleted = deleted + #keys
until cursor == '0'
return deleted`;

/**
 * Deletes every key under `prefix` at once — a test's own keys, never anyone else's — and says how many.
 * `redis` must be a client without a keyPrefix: SCAN patterns ignore ioredis's prefixing.
 */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  return Number(await redis.eval(DELETE_MATCHING, 0, pattern));
}

export interface GraphQLStubRequest {
  readonly query: string;
  readonly variables: Record<string, unknown>;
  readonly headers: IncomingHttpHeaders;
}

/** A GraphQL response body as a stub sends it: `data` and/or `errors`, exactly as given. */
export type GraphQLStubReply = { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };

/**
 * A peer subgraph's HTTP endpoint answering from `answer`, for testing a service-to-service caller without
 * starting the peer. It checks nothing about the caller: tests of the identity checks belong to the peer.
 */
export async function startGraphQLStub(
  answer: (request: GraphQLStubRequest) => GraphQLStubReply | Promise<GraphQLStubReply>,
): Promise<{ readonly url: string; close(): Promise<void> }> {
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as GraphQLStubRequest;
    const reply = await answer({ query, variables: variables ?? {}, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Drops the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

/**
 * A new, uniquely named database on the test server, migrated with the platform migrator when `migrationsDir`
 * (a Prisma migrations folder, e.g. `prisma/order/migrations`) is given, then running any `sql` scripts (a
 * fixture table, the outbox DDL). Drop it in `after()`; a failed setup drops it itself.
 */
export async function createTestDatabase(
  prefix = 'test',
  options: { readonly migrationsDir?: string; readonly sql?: readonly string[] } = {},
): Promise<TestDatabase> {
  const name = `${prefix}_${uniqueSuffix()}`.toLowerCase();
  const url = databaseUrlFor(TEST_SERVER_URL, name);
  const drop = () => dropDatabase(url);
  try {
    if (options.migrationsDir) await migrateDatabase({ databaseUrl: url, migrationsDir: options.migrationsDir });
    else await ensureDatabase(url);
    if (options.sql?.length) await runScripts(url, options.sql);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, name, drop };
}

async function runScripts(url: string, scripts: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const script of scripts) await client.query(script);
  } finally {
    await client.end();
  }
}

export interface TestRedis {
  /** A client whose keys all live under `prefix`, like the services' own (MALL_REDIS_PREFIX). */
  readonly redis: Redis;
  readonly prefix: string;
  /** Deletes the prefix's keys and disconnects. */
  cleanup(): Promise<void>;
}

export function createTestRedis(label = 'test', options: { autoPipelining?: boolean } = {}): TestRedis {
  const prefix = `${label}:${uniqueSuffix()}:`;
  const redis = new Redis(TEST_REDIS_URL, {
    keyPrefix: prefix,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: options.autoPipelining ?? false,
  });
  return {
    redis,
    prefix,
    async cleanup() {
      // SCAN ignores keyPrefix, so the sweep needs a client without one.
      const raw = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        await deleteKeys(raw, prefix);
      } finally {
        raw.disconnect();
        redis.disconnect();
      }
    },
  };
}

/**
 * Counts the socket writes `redis` makes until `stop()` (which puts its stream back as it was): how a test
 * shows that commands went to Redis together (a pipeline, auto-pipelining) rather than one write each.
 */
export function countRedisWrites(redis: Redis): { readonly writes: number; stop(): void } {
  const stream = (redis as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
  const write = stream.write;
  const counter = {
    writes: 0,
    stop() {
      stream.write = write;
    },
  };
  stream.write = function counted(this: unknown, ...args: unknown[]) {
    counter.writes++;
    return write.apply(this, args);
  };
  return counter;
}

/** A GraphQL response as a test sees it (`@mall/stack/testing`'s GraphQLResult fits). */
export interface GraphQLResultLike<T = unknown> {
  readonly body: {
    readonly data?: T | null;
    readonly errors?: readonly { readonly message: string; readonly extensions?: { readonly code?: unknown } }[];
  };
}

/**
 * The response's data, failing the test on any error. Name the shape you read (`data<{ me: User }>(r)`), or
 * pass a top-level field to get its value, asserted present (`data<Tokens>(r, 'login')`).
 */
export function data<T>(result: GraphQLResultLike): T;
export function data<T>(result: GraphQLResultLike<Record<string, T>>, field: string): NonNullable<T>;
export function data(result: GraphQLResultLike, field?: string): unknown {
  assert.equal(result.body.errors, undefined, `unexpected errors: ${JSON.stringify(result.body.errors)}`);
  const body = result.body.data;
  assert.ok(typeof body === 'object' && body !== null, `no data in ${JSON.stringify(result.body)}`);
  if (field === undefined) return body;
  const value: unknown = Reflect.get(body, field);
  assert.ok(value !== undefined && value !== null, `no ${String(field)} in ${JSON.stringify(result.body)}`);
  return value;
}

/** The first error's `extensions.code`, or undefined when the response has none. */
export function errorCode(result: GraphQLResultLike): string | undefined {
  const code = result.body.errors?.[0]?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Runs `fn`, expecting it to throw BAD_USER_INPUT, and returns the fields its problems name, sorted. */
export function badInputFields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, 'BAD_USER_INPUT');
    return ((error.extensions['problems'] ?? []) as { field: string }[]).map((p) => p.field).sort();
  }
  assert.fail('expected BAD_USER_INPUT');
}

const moneyType = (sdl: string): string | undefined => {
  const isMoney = (d: DefinitionNode) => d.kind === 'ObjectTypeDefinition' && d.name.value === 'Money';
  const found = parse(sdl).definitions.find(isMoney);
  return found && print(found);
};

/** Fails unless a subgraph's SDL declares `Money` exactly as MONEY_SDL does (fields, types, `@shareable`). */
export function assertMoneyType(subgraphSdl: string): void {
  assert.equal(moneyType(subgraphSdl), moneyType(MONEY_SDL), 'Money must be declared exactly as MONEY_SDL');
}

/** One proxied TCP connection: the client's socket and ours to the target. */
export interface ProxiedConnection {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Cuts this connection on both sides. */
  destroy(): void;
}

export interface FaultProxyOptions {
  /**
   * Sees every chunk before it is forwarded ('up': client → target, 'down': target → client) and returns what
   * to forward: the chunk, part of it, several frames, or nothing (an empty buffer). A protocol-aware test
   * (the broker's lossy proxy) holds back or drops frames here, or destroys the connection.
   */
  readonly filter?: (direction: 'up' | 'down', chunk: Buffer, connection: ProxiedConnection) => Buffer;
}

/**
 * A TCP proxy in front of a test's Redis, Postgres or broker that can fail on command, so fault tests run in
 * `npm test` without touching the machine's own servers: point the service at `port` (REDIS_URL,
 * DATABASE_URL, broker address) and then
 * - `cut()`: every connection is dropped and new ones are closed at once (the server is down);
 * - `blackhole()`: connections stay open but nothing gets through either way (a stalled network);
 *   what was held back is delivered on `restore()`, as TCP would after the stall;
 * - `delay(ms)`: every chunk arrives `ms` later (a slow link);
 * - `restore()`: back to passing everything through.
 */
export interface FaultProxy {
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly connections: ReadonlySet<ProxiedConnection>;
  cut(): void;
  blackhole(): void;
  delay(ms: number): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(
  target: { readonly host?: string; readonly port: number },
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  type Mode = { kind: 'pass' | 'cut' | 'blackhole' } | { kind: 'delay'; ms: number };
  let mode: Mode = { kind: 'pass' };
  const connections = new Set<ProxiedConnection>();
  // Chunks held back while blackholed, in arrival order, with the socket each was headed for.
  let held: { to: Socket; chunk: Buffer }[] = [];

  const forward = (to: Socket, chunk: Buffer) => {
    if (chunk.length === 0 || to.destroyed) return;
    if (mode.kind === 'blackhole') held.push({ to, chunk });
    else if (mode.kind === 'delay') setTimeout(() => to.destroyed || to.write(chunk), mode.ms);
    else to.write(chunk);
  };

  const server = createServer((client) => {
    if (mode.kind === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host ?? '127.0.0.1');
    const connection: ProxiedConnection = {
      client,
      upstream,
      destroy() {
        client.destroy();
        upstream.destroy();
        connections.delete(connection);
      },
    };
    connections.add(connection);
    const pipe = (direction: 'up' | 'down', from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) =>
        forward(to, options.filter ? options.filter(direction, chunk, connection) : chunk),
      );
      from.on('error', () => connection.destroy()).on('close', () => connection.destroy());
    };
    pipe('up', client, upstream);
    pipe('down', upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const release = () => {
    const pending = held;
    held = [];
    for (const { to, chunk } of pending) if (!to.destroyed) to.write(chunk);
  };
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    cut() {
      mode = { kind: 'cut' };
      held = [];
      for (const connection of [...connections]) connection.destroy();
    },
    blackhole() {
      mode = { kind: 'blackhole' };
    },
    delay(ms) {
      mode = { kind: 'delay', ms };
    },
    restore() {
      mode = { kind: 'pass' };
      release();
    },
    async close() {
      for (const connection of [...connections]) connection.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fault proxy in front of the server `url` names (`redis://…`, `postgresql://…`), and the same URL pointed
 * at the proxy: hand `url` to the stack (REDIS_URL, DATABASE_URL) and fail the link with `proxy`.
 */
export async function proxyServer(url: string): Promise<{ readonly proxy: FaultProxy; readonly url: string }> {
  const parsed = new URL(url);
  const defaultPort = parsed.protocol.startsWith('redis') ? 6379 : 5432;
  const proxy = await startFaultProxy({
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : defaultPort,
  });
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return { proxy, url: parsed.toString() };
}
