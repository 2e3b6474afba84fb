import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GraphQLResolveInfo, parse } from 'graphql';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { IDENTITY_HEADER, IdentitySigner, requireUser } from '../src/index.ts';
import { createLogger } from '../src/logger.ts';
import { type RequestScope, type RunningService, startSubgraph } from '../src/subgraph.ts';

const SECRET = 's'.repeat(32);

interface CacheControl {
  setCacheHint(hint: { maxAge: number; scope: 'PUBLIC' | 'PRIVATE' }): void;
}
const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { whoami: String! boom: String! denied: String! hinted: String! }
`);

type SubgraphOptions = Parameters<typeof startSubgraph<RequestScope>>[0];
/** A subgraph named user on a free loopback port, logging nothing, with `options` on top. */
const startTestSubgraph = (options: Pick<SubgraphOptions, 'resolvers'> & Partial<SubgraphOptions>) =>
  startSubgraph<RequestScope>({
    name: 'user',
    typeDefs,
    config: loadConfig({ NODE_ENV: 'test' }),
    logger: createLogger({ service: 'test', level: 'silent' }),
    internalSecret: SECRET,
    port: 0,
    host: '127.0.0.1',
    context: (base) => base,
    ...options,
  });

describe('startSubgraph', () => {
  let service: RunningService;
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  const token = (audience = 'user') =>
    new IdentitySigner(SECRET, 'router').sign({ userId: '9', roles: ['CUSTOMER'], requestId: 'rid-1', audience });

  before(async () => {
    service = await startTestSubgraph({
      resolvers: {
        Query: {
          whoami: (_p: unknown, _a: unknown, ctx: RequestScope) => `${requireUser(ctx.identity)}:${ctx.requestId}`,
          boom: () => {
            throw new Error('connection string postgres://secret@db leaked');
          },
          denied: () => {
            throw new AppError('FORBIDDEN', 'not yours');
          },
          // A cache hint as a resolver would give Apollo's cache-control plugin, were it installed.
          hinted: (_p: unknown, _a: unknown, _ctx: unknown, info: GraphQLResolveInfo) => {
            (info as { cacheControl?: CacheControl }).cacheControl?.setCacheHint({ maxAge: 60, scope: 'PUBLIC' });
            return 'hinted';
          },
        },
      },
    });
  });
  after(() => service.stop());

  it('answers no-store, whatever a resolver hints: an answer is one caller’s (and no per-field cache hook)', async () => {
    const res = await post('{"query":"{ hinted }"}', { [IDENTITY_HEADER]: await token() });
    assert.deepEqual(await res.json(), { data: { hinted: 'hinted' } });
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('refuses requests without a valid identity token', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { [IDENTITY_HEADER]: 'garbage' },
      { [IDENTITY_HEADER]: await token('auth') },
    ];
    for (const headers of attempts) {
      const res = await post('{"query":"{ whoami }"}', headers);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { errors: { extensions: { code: string } }[]; data?: unknown };
      assert.equal(body.errors[0]?.extensions.code, 'UNAUTHENTICATED');
      assert.equal(body.data, undefined);
    }
  });

  it('serves the verified identity to resolvers', async () => {
    const res = await post('{"query":"{ whoami }"}', { [IDENTITY_HEADER]: await token() });
    assert.deepEqual(await res.json(), { data: { whoami: '9:rid-1' } });
  });

  it('serves a GET with the query in the URL, and refuses one without the CSRF preflight header', async () => {
    const get = async (headers: Record<string, string>) =>
      fetch(`${service.url}/graphql?query=${encodeURIComponent('{ whoami }')}`, {
        headers: { [IDENTITY_HEADER]: await token(), 'x-request-id': 'rid-get', ...headers },
      });
    const res = await get({ 'apollo-require-preflight': 'true' });
    assert.deepEqual(await res.json(), { data: { whoami: '9:rid-get' } });
    assert.equal((await get({})).status, 400);
  });

  it('masks faults and keeps public error codes', async () => {
    const res = await post('{"query":"{ boom }"}', { [IDENTITY_HEADER]: await token() });
    const text = await res.text();
    assert.doesNotMatch(text, /postgres|secret|stack/i);
    assert.equal(
      (JSON.parse(text) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code,
      'INTERNAL_SERVER_ERROR',
    );
    const denied = (await (await post('{"query":"{ denied }"}', { [IDENTITY_HEADER]: await token() })).json()) as {
      errors: { message: string; extensions: { code: string } }[];
    };
    assert.deepEqual([denied.errors[0]?.message, denied.errors[0]?.extensions.code], ['not yours', 'FORBIDDEN']);
  });

  it('answers malformed and oversized bodies with 4xx, not a crash', async () => {
    assert.equal((await post('{"query":', { [IDENTITY_HEADER]: await token() })).status, 400);
    const huge = JSON.stringify({ query: `{ whoami } #${'x'.repeat(2 * 1024 * 1024)}` });
    assert.equal((await post(huge, { [IDENTITY_HEADER]: await token() })).status, 413);
    assert.equal((await fetch(`${service.url}/health/live`)).status, 200);
  });

  it('exposes health, and Prometheus metrics on a port of their own only', async () => {
    assert.equal((await fetch(`${service.url}/health/ready`)).status, 200);
    assert.equal((await fetch(`${service.url}/metrics`)).status, 404);
    assert.ok(service.metricsUrl);
    assert.notEqual(new URL(service.metricsUrl).port, String(service.port));
    const metrics = await (await fetch(service.metricsUrl)).text();
    assert.match(metrics, /graphql_requests_total\{[^}]*service="subgraph-user"/);
  });
});

describe('startSubgraph shutdown', () => {
  it('fails readiness at once, keeps serving through the drain delay, then closes', async () => {
    // Long enough that the requests below finish inside the window on a loaded machine.
    const drainMs = 1_500;
    const service = await startTestSubgraph({
      config: loadConfig({ NODE_ENV: 'test', SHUTDOWN_DRAIN_MS: String(drainMs) }),
      resolvers: { Query: { whoami: () => 'still here', boom: () => '', denied: () => '' } },
    });
    assert.equal((await fetch(`${service.url}/health/ready`)).status, 200);
    // Signed before the clock starts: nothing but the requests themselves runs inside the drain window.
    const token = await new IdentitySigner(SECRET, 'router').sign({
      userId: '9',
      roles: [],
      requestId: 'rid-drain',
      audience: 'user',
    });
    const startedAt = Date.now();
    const stopped = service.stop();
    // Within the drain window: load balancers see "not ready", requests already routed here still succeed.
    assert.equal((await fetch(`${service.url}/health/ready`)).status, 503);
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: token },
      body: '{"query":"{ whoami }"}',
    });
    assert.deepEqual(await res.json(), { data: { whoami: 'still here' } });
    await stopped;
    // A timer counts from the event loop's cached clock, which on a busy machine lags Date.now() (CI once saw
    // a 400 ms drain end just under 400 ms of wall time): a tolerance far below the delay itself.
    const drained = Date.now() - startedAt;
    assert.ok(drained >= drainMs - 100, `the server closed only after the drain delay (${drained} ms)`);
    await assert.rejects(fetch(`${service.url}/health/live`), 'closed after the drain');
  });
});

describe('startSubgraph request logger', () => {
  // What reached the log, and how many child loggers were made: the request logger is made only when used.
  const lines: Record<string, unknown>[] = [];
  let children = 0;
  const logger = pino(
    { level: 'info', base: { service: 'subgraph-test' }, onChild: () => children++ },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  let service: RunningService;
  const ask = async (query: string, requestId: string) => {
    const token = await new IdentitySigner(SECRET, 'router').sign({
      userId: '9',
      roles: ['CUSTOMER'],
      audience: 'user',
    });
    const res = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: token, 'x-request-id': requestId },
      body: JSON.stringify({ query }),
    });
    return res.json();
  };

  before(async () => {
    service = await startTestSubgraph({
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
        type Query { quiet: String! loud: String! }
      `),
      logger,
      resolvers: {
        Query: {
          quiet: () => 'shh',
          loud: (_p: unknown, _a: unknown, ctx: RequestScope) => {
            ctx.logger.warn({ detail: 1 }, 'resolver says hello');
            ctx.logger.warn('and again');
            return 'said';
          },
        },
      },
    });
  });
  after(() => service.stop());

  it('makes no child logger for a request that logs nothing', async () => {
    const before = children;
    assert.deepEqual(await ask('{ quiet }', 'rid-quiet'), { data: { quiet: 'shh' } });
    assert.equal(children, before);
  });

  it('logs a request’s lines with its request id, caller and service, from one child logger', async () => {
    const before = children;
    assert.deepEqual(await ask('{ loud }', 'rid-loud'), { data: { loud: 'said' } });
    assert.equal(children, before + 1);
    const said = lines.filter((l) => l['requestId'] === 'rid-loud');
    assert.deepEqual(
      said.map(({ service, requestId, userId, msg, detail }) => ({ service, requestId, userId, msg, detail })),
      [
        { service: 'subgraph-test', requestId: 'rid-loud', userId: '9', msg: 'resolver says hello', detail: 1 },
        { service: 'subgraph-test', requestId: 'rid-loud', userId: '9', msg: 'and again', detail: undefined },
      ],
    );
  });
});
