// The router in front of real gateway traffic: two small subgraphs (started with the platform's own
// bootstrap, so they refuse anything the router did not sign), a supergraph composed on the fly, a JWKS
// standing in for auth, and real Redis.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { composeServices } from '@apollo/composition';
import {
  AppError,
  authKeys,
  createLogger,
  IDENTITY_HEADER,
  IdentitySigner,
  loadConfig,
  type RequestScope,
  type RunningService,
  startSubgraph,
} from '@mall/platform';
import { parse } from 'graphql';
import type { Redis } from 'ioredis';
import { startRouter } from '../src/index.ts';
import {
  dropPrefix,
  generateSigningKey,
  type JwksServer,
  prefixedRedis,
  signAccessToken,
  startJwksServer,
  type TestSigningKey,
  uniquePrefix,
} from './helpers.ts';

const SECRET = 'router-test-internal-secret-0123456789';
const FED = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])';
const VIEW_FIELDS =
  'userId: String roles: [String!]! requestId: String! issuer: String! clientIp: String sessionId: String tokenId: String';
const logger = createLogger({ service: 'router-test', level: 'silent' });

const userTypeDefs = parse(`${FED}
  type Query { userView: UserView! leaky: String notFound: String level: Level }
  type UserView { ${VIEW_FIELDS} }
  type Level { value: Int! next: Level }`);
const productTypeDefs = parse(`${FED}
  type Query { productView: ProductView! }
  type ProductView { ${VIEW_FIELDS} }`);
// Composed in, but routed to the product subgraph, which refuses tokens addressed to "cart": a subgraph 401.
const cartTypeDefs = parse(`${FED}
  type Query { cartPing: String }`);

const view = (ctx: RequestScope) => ({
  userId: ctx.identity.userId,
  roles: ctx.identity.roles,
  requestId: ctx.requestId,
  issuer: ctx.identity.issuer,
  clientIp: ctx.identity.clientIp,
  sessionId: ctx.identity.session?.id ?? null,
  tokenId: ctx.identity.session?.tokenId ?? null,
});

interface SpyProxy {
  readonly url: string;
  /** Headers of the last request the router sent through. */
  lastHeaders: IncomingHttpHeaders | undefined;
  /** The next response body is replaced by this (a subgraph that misbehaves). */
  nextBody: unknown;
  stop(): Promise<void>;
}

/** Sits between the router and a subgraph to record exactly what the router sends. */
async function startSpy(target: string): Promise<SpyProxy> {
  const spy: SpyProxy = {
    url: '',
    lastHeaders: undefined,
    nextBody: undefined,
    stop: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      spy.lastHeaders = req.headers;
      if (spy.nextBody !== undefined) {
        const body = JSON.stringify(spy.nextBody);
        spy.nextBody = undefined;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
      const forwarded: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name))
          forwarded[name] = value;
      }
      const upstream = await fetch(`${target}${req.url ?? ''}`, {
        method: req.method ?? 'POST',
        headers: forwarded,
        body: Buffer.concat(chunks),
      });
      res
        .writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' })
        .end(await upstream.text());
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(spy, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return spy;
}

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: unknown; extensions?: Record<string, unknown> }[];
}

function testConfig(prefix: string, env: Record<string, string> = {}) {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    MALL_REDIS_PREFIX: prefix,
    KAFKA_BROKERS: '127.0.0.1:1',
    ...env,
  });
}

describe('router (gateway + subgraphs + Redis)', () => {
  const prefix = uniquePrefix('it');
  let redis: Redis;
  let jwks: JwksServer;
  let key: TestSigningKey;
  let user: RunningService;
  let product: RunningService;
  let spy: SpyProxy;
  let supergraphSdl: string;
  let subgraphUrls: Record<string, string>;
  const started: RunningService[] = [];

  const start = async (env: Record<string, string> = {}) => {
    const config = testConfig(prefix, env);
    const router = await startRouter(
      { config, logger, internalSecret: SECRET, redis },
      { port: 0, subgraphUrls, supergraphSdl },
    );
    started.push(router);
    return router;
  };
  let router: RunningService;

  const post = async (target: RunningService, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${target.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { res, body: (await res.json()) as GraphQLBody };
  };
  const bearer = async (
    sub: string,
    roles: string[] = ['CUSTOMER'],
    extra: Parameters<typeof signAccessToken>[1] = {},
  ) => ({
    authorization: `Bearer ${await signAccessToken(key, { sub, roles, ...extra })}`,
  });

  before(async () => {
    redis = prefixedRedis(prefix);
    // Auth's revocation mirror would keep this marker set: Redis holds every revocation.
    await redis.set(authKeys.revocationsGeneration, 'test');
    key = await generateSigningKey('ES256');
    jwks = await startJwksServer([key.publicJwk]);
    const subgraphConfig = testConfig(prefix);
    const common = {
      config: subgraphConfig,
      logger,
      internalSecret: SECRET,
      port: 0,
      host: '127.0.0.1',
      context: (base: RequestScope) => base,
    };
    user = await startSubgraph<RequestScope>({
      ...common,
      name: 'user',
      typeDefs: userTypeDefs,
      resolvers: {
        Query: {
          userView: (_: unknown, __: unknown, ctx: RequestScope) => view(ctx),
          leaky: () => 'fine',
          notFound: () => {
            throw new AppError('NOT_FOUND', 'Widget not found');
          },
          level: () => ({ value: 1, next: null }),
        },
      },
    });
    product = await startSubgraph<RequestScope>({
      ...common,
      name: 'product',
      typeDefs: productTypeDefs,
      resolvers: { Query: { productView: (_: unknown, __: unknown, ctx: RequestScope) => view(ctx) } },
    });
    spy = await startSpy(user.url);
    subgraphUrls = {
      user: `${spy.url}/graphql`,
      product: `${product.url}/graphql`,
      cart: `${product.url}/graphql`,
      auth: `${jwks.url}/graphql`,
    };
    const composed = composeServices([
      { name: 'user', url: 'http://user.invalid/graphql', typeDefs: userTypeDefs },
      { name: 'product', url: 'http://product.invalid/graphql', typeDefs: productTypeDefs },
      { name: 'cart', url: 'http://cart.invalid/graphql', typeDefs: cartTypeDefs },
    ]);
    assert.deepEqual(composed.errors, undefined);
    supergraphSdl = composed.supergraphSdl ?? '';
    router = await start();
  });

  after(async () => {
    for (const service of started.reverse()) await service.stop();
    await spy?.stop();
    await product?.stop();
    await user?.stop();
    await jwks?.stop();
    await dropPrefix(prefix);
    await redis?.quit();
  });

  const VIEWS =
    '{ userView { userId roles requestId issuer clientIp sessionId tokenId } productView { userId roles requestId issuer } }';

  it('signs an identity for each subgraph that carries the verified caller', async () => {
    const headers = await bearer('u-7', ['CUSTOMER', 'MERCHANT'], { sid: 'fam-7', jti: 'jti-7' });
    const { res, body } = await post(router, { query: VIEWS }, { ...headers, 'x-request-id': 'req-it-1' });
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(res.headers.get('x-request-id'), 'req-it-1');
    assert.deepEqual(body.data, {
      userView: {
        userId: 'u-7',
        roles: ['CUSTOMER', 'MERCHANT'],
        requestId: 'req-it-1',
        issuer: 'router',
        clientIp: '127.0.0.1',
        sessionId: 'fam-7',
        tokenId: 'jti-7',
      },
      productView: { userId: 'u-7', roles: ['CUSTOMER', 'MERCHANT'], requestId: 'req-it-1', issuer: 'router' },
    });
  });

  it('calls subgraphs anonymously without a token', async () => {
    const { body } = await post(router, { query: VIEWS });
    const data = body.data as { userView: { userId: unknown; roles: unknown; requestId: string } };
    assert.equal(data.userView.userId, null);
    assert.deepEqual(data.userView.roles, []);
    assert.match(data.userView.requestId, /^[0-9a-f-]{36}$/);
  });

  it('never forwards client headers, a forged identity least of all', async () => {
    // A forgery signed with the real secret: only stripping (not signature checks) can stop this one.
    const forged = await new IdentitySigner(SECRET, 'router').sign({
      userId: 'u-admin',
      roles: ['ADMIN'],
      requestId: 'forged',
      audience: 'user',
    });
    const { body } = await post(
      router,
      { query: '{ userView { userId roles } }' },
      {
        [IDENTITY_HEADER]: forged,
        cookie: 'session=abc',
        'x-custom': 'client-value',
        'x-forwarded-for': '198.51.100.23',
        ...(await bearer('u-8')),
      },
    );
    assert.deepEqual(body.data, { userView: { userId: 'u-8', roles: ['CUSTOMER'] } });
    const sent = spy.lastHeaders ?? {};
    assert.notEqual(sent[IDENTITY_HEADER], forged);
    for (const header of ['authorization', 'cookie', 'x-custom', 'x-forwarded-for'])
      assert.equal(sent[header], undefined, header);
  });

  it('believes X-Forwarded-For from a trusted proxy (loopback by default)', async () => {
    const { body } = await post(
      router,
      { query: '{ userView { clientIp } }' },
      { 'x-forwarded-for': '1.1.1.1, 198.51.100.42' },
    );
    assert.deepEqual(body.data, { userView: { clientIp: '198.51.100.42' } });
  });

  it('replaces an unsafe x-request-id', async () => {
    const { res, body } = await post(
      router,
      { query: '{ userView { requestId } }' },
      { 'x-request-id': 'x'.repeat(200) },
    );
    const id = res.headers.get('x-request-id');
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(body.data, { userView: { requestId: id } });
  });

  it('answers a bad token with 401 UNAUTHENTICATED and counts it', async () => {
    const expiredAt = Math.floor(Date.now() / 1000) - 700;
    for (const authorization of [
      'Bearer garbage',
      `Bearer ${await signAccessToken(key, { iat: expiredAt, exp: expiredAt + 600 })}`,
    ]) {
      const { res, body } = await post(router, { query: VIEWS }, { authorization });
      assert.equal(res.status, 401);
      assert.equal(body.errors?.[0]?.extensions?.['code'], 'UNAUTHENTICATED');
      assert.equal(body.data, undefined);
    }
    assert.equal((await fetch(`${router.url}/metrics`)).status, 404, 'not on the public port');
    assert.ok(router.metricsUrl, 'on a port of its own');
    const metrics = await (await fetch(router.metricsUrl)).text();
    assert.match(metrics, /router_auth_failures_total\{reason="malformed",service="router"\} 1/);
    assert.match(metrics, /router_auth_failures_total\{reason="expired",service="router"\} 1/);
    assert.match(metrics, /graphql_requests_total\{/);
  });

  it('passes public error codes through, without internal extensions', async () => {
    const { body } = await post(router, { query: '{ notFound }' });
    assert.deepEqual(body.errors, [
      { message: 'Widget not found', path: ['notFound'], extensions: { code: 'NOT_FOUND' } },
    ]);
  });

  it('masks errors without a public code, even when a subgraph leaks them', async () => {
    spy.nextBody = {
      data: { leaky: null },
      errors: [
        {
          message: 'password=hunter2 at /srv/db.ts:12',
          path: ['leaky'],
          extensions: { code: 'DB_DOWN', stacktrace: ['Error: at /srv/db.ts:12'] },
        },
      ],
    };
    const res = await fetch(`${router.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ leaky }' }),
    });
    const text = await res.text();
    assert.doesNotMatch(text, /hunter2|srv|stacktrace|DB_DOWN|serviceName/);
    assert.deepEqual((JSON.parse(text) as GraphQLBody).errors?.[0]?.extensions, { code: 'INTERNAL_SERVER_ERROR' });
  });

  it('masks a subgraph that refuses the router (no URL, no status detail)', async () => {
    const res = await fetch(`${router.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ cartPing }"}',
    });
    const text = await res.text();
    assert.doesNotMatch(text, /127\.0\.0\.1|401|Unauthorized|identity/);
    const body = JSON.parse(text) as GraphQLBody;
    assert.equal(body.errors?.[0]?.extensions?.['code'], 'INTERNAL_SERVER_ERROR');
    assert.equal(body.errors?.[0]?.message, 'Internal server error');
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await fetch(`${router.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ userView { userId } } # ${'x'.repeat(300 * 1024)}` }),
    });
    assert.equal(res.status, 413);
  });

  it('refuses deep queries, too many aliases, batches, and GETs without a CSRF header', async () => {
    // level + 11 × next + value = 13 levels.
    const deep = `{ level { ${'next { '.repeat(11)}value${' }'.repeat(11)} } }`;
    const depth = await post(router, { query: deep });
    assert.equal(depth.res.status, 400);
    assert.match(depth.body.errors?.[0]?.message ?? '', /depth 13 exceeds the limit of 12/);

    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: leaky`).join(' ');
    const aliased = await post(router, { query: `{ ${aliases} }` });
    assert.equal(aliased.body.errors?.[0]?.extensions?.['code'], 'GRAPHQL_VALIDATION_FAILED');

    const batch = await fetch(`${router.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ leaky }' }, { query: '{ leaky }' }]),
    });
    assert.equal(batch.status, 400);

    const query = encodeURIComponent('{ leaky }');
    assert.equal((await fetch(`${router.url}/graphql?query=${query}`)).status, 400);
    const preflighted = await fetch(`${router.url}/graphql?query=${query}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    assert.deepEqual(await preflighted.json(), { data: { leaky: 'fine' } });
  });

  it('speaks automatic persisted queries', async () => {
    const query = `{ leaky } # ${randomUUID()}`;
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await post(router, { extensions });
    assert.equal(unknown.body.errors?.[0]?.extensions?.['code'], 'PERSISTED_QUERY_NOT_FOUND');
    assert.deepEqual((await post(router, { query, extensions })).body.data, { leaky: 'fine' });
    assert.deepEqual((await post(router, { extensions })).body.data, { leaky: 'fine' });
    // Registered in Redis: another replica knows it without being sent the text.
    assert.deepEqual((await post(await start(), { extensions })).body.data, { leaky: 'fine' });
  });

  it('allows local origins in development and no others', async () => {
    const preflight = (origin: string) =>
      fetch(`${router.url}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const local = await preflight('http://localhost:3000');
    assert.equal(local.status, 204);
    assert.equal(local.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const foreign = await preflight('https://evil.example');
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  });

  it('is live, and ready only when Redis and Kafka answer', async () => {
    assert.equal((await fetch(`${router.url}/health/live`)).status, 200);
    const ready = await fetch(`${router.url}/health/ready`);
    const body = (await ready.json()) as { checks: Record<string, string> };
    // KAFKA_BROKERS points at a closed port in this test.
    assert.equal(ready.status, 503);
    assert.equal(body.checks['supergraph'], 'ok');
    assert.equal(body.checks['redis'], 'ok');
    assert.notEqual(body.checks['kafka'], 'ok');
  });

  it('limits per IP and per user with RATE_LIMITED, retryAfterSeconds and Retry-After', async () => {
    const limited = await start({ RATE_LIMIT_IP_PER_MINUTE: '3', RATE_LIMIT_USER_PER_MINUTE: '2' });
    const query = { query: '{ leaky }' };

    const fromIp = { 'x-forwarded-for': '198.51.100.250' };
    for (let i = 0; i < 3; i++) assert.equal((await post(limited, query, fromIp)).res.status, 200);
    const ipRefused = await post(limited, query, fromIp);
    assert.equal(ipRefused.res.status, 429);
    const error = ipRefused.body.errors?.[0];
    assert.equal(error?.extensions?.['code'], 'RATE_LIMITED');
    const retryAfter = error?.extensions?.['retryAfterSeconds'];
    assert.ok(typeof retryAfter === 'number' && retryAfter >= 1 && retryAfter <= 60);
    assert.equal(ipRefused.res.headers.get('retry-after'), String(retryAfter));

    // One user from a new address each time: only the per-user limit can refuse the third request.
    const userHeaders = await bearer(`u-${randomUUID()}`);
    const fromUser = (n: number) => ({ 'x-forwarded-for': `203.0.113.${n}`, ...userHeaders });
    for (let i = 1; i <= 2; i++) assert.equal((await post(limited, query, fromUser(i))).res.status, 200);
    const userRefused = await post(limited, query, fromUser(3));
    assert.equal(userRefused.res.status, 429);
    assert.equal(userRefused.body.errors?.[0]?.extensions?.['code'], 'RATE_LIMITED');
    assert.equal(
      (await post(limited, query, { 'x-forwarded-for': '203.0.113.3', ...(await bearer(`u-${randomUUID()}`)) })).res
        .status,
      200,
    );

    const metrics = await (await fetch(limited.metricsUrl!)).text();
    assert.match(metrics, /router_rate_limited_total\{scope="ip",service="router"\} 1/);
    assert.match(metrics, /router_rate_limited_total\{scope="user",service="router"\} 1/);
  });

  it('turns off introspection, suggestions and the landing page in production', async () => {
    const production = await start({
      NODE_ENV: 'production',
      MALL_INTERNAL_SECRET: SECRET,
      AUTH_JWT_PRIVATE_KEY: 'unused-here',
      MALL_ADMIN_PASSWORD: 'unused-here',
    });
    const introspection = await post(production, { query: '{ __schema { types { name } } }' });
    assert.equal(introspection.body.errors?.[0]?.extensions?.['code'], 'GRAPHQL_VALIDATION_FAILED');
    const typo = await post(production, { query: '{ leakyy }' });
    assert.doesNotMatch(typo.body.errors?.[0]?.message ?? '', /Did you mean/);
    const dev = await post(router, { query: '{ leakyy }' });
    assert.match(dev.body.errors?.[0]?.message ?? '', /Did you mean/);

    const page = await fetch(`${production.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.doesNotMatch(await page.text(), /sandbox/i);
    const devPage = await fetch(`${router.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.match(await devPage.text(), /sandbox/i);
  });
});
