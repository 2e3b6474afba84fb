// Fault tests through the router: the stack reaches Redis and Postgres only through fault proxies, so
// cutting them never touches the machine's own servers (other tests keep running on those). "Flushing"
// Redis deletes this stack's key prefix only, which is all a Redis restart would lose for it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createKafka } from '@mall/events';
import { waitFor } from '@mall/events/testing';
import { createLogger, domainDatabaseUrl, kafkaBrokers } from '@mall/platform';
import {
  errorCode as codeOf,
  data as dataOf,
  deleteKeys,
  type FaultProxy,
  proxyServer,
  TEST_REDIS_URL,
  TEST_SERVER_URL,
} from '@mall/platform/testing';
import { type GraphQLResult, startTestStack, type TestStack } from '@mall/stack/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  DELETE_USER,
  LOGIN,
  LOGOUT,
  ME,
  PASSWORD,
  REFRESH,
  REGISTER,
  type Registered,
  uniqueEmail,
} from './operations.ts';

/**
 * How long Redis stays away after `deleteUser`. The issue's operator test used 60 s; the consumer's handling
 * of user.deleted no longer touches Redis at all, so its length changes nothing (MALL_FAULT_OUTAGE_MS=60000
 * runs the full minute).
 */
const OUTAGE_MS = Number(process.env['MALL_FAULT_OUTAGE_MS'] ?? 3_000);
/** Words of drivers and sockets that must never reach a client. */
const LEAKS =
  /ioredis|Stream isn't writeable|ECONN|Command timed out|Connection is closed|prisma|P10\d\d|pg_|timeout exceeded/i;

describe('faults: Redis and Postgres outages degrade service, never security or data', () => {
  let stack: TestStack;
  let redisLink: FaultProxy;
  let postgresLink: FaultProxy;
  /** Straight to the real Redis, for "flushing" this stack's prefix while the stack's link is fine. */
  let raw: Redis;

  before(async () => {
    const redisProxy = await proxyServer(TEST_REDIS_URL);
    const postgresProxy = await proxyServer(TEST_SERVER_URL);
    redisLink = redisProxy.proxy;
    postgresLink = postgresProxy.proxy;
    raw = new Redis(TEST_REDIS_URL);
    stack = await startTestStack({
      subgraphs: ['user', 'auth'],
      env: { REDIS_URL: redisProxy.url, DATABASE_URL: postgresProxy.url },
    });
  });
  after(async () => {
    redisLink?.restore();
    postgresLink?.restore();
    await stack?.close();
    raw?.disconnect();
    await Promise.all([redisLink?.close(), postgresLink?.close()]);
  });

  const register = async () =>
    dataOf<Registered>(
      await stack.gql(REGISTER, { input: { email: uniqueEmail('fault'), password: PASSWORD } }),
      'register',
    );
  const login = (email: string, password = PASSWORD) =>
    stack.gql<Record<string, Registered>>(LOGIN, { email, password });
  const me = (token: string) => stack.gql<Record<string, { id: string }>>(ME, {}, { token });
  const logout = (token: string) => stack.gql<Record<string, boolean>>(LOGOUT, {}, { token });
  const flushRedis = () => deleteKeys(raw, stack.config.redis.prefix);
  /** A database URL of the stack, pointed at the real server instead of the proxy. */
  const direct = (url: string) => {
    const server = new URL(TEST_SERVER_URL);
    const target = new URL(url);
    target.host = server.host;
    return target.toString();
  };

  /** The request's answer and how long it took; never a 500 and never a driver's words. */
  async function timed<T>(request: Promise<GraphQLResult<T>>): Promise<{ result: GraphQLResult<T>; ms: number }> {
    const started = performance.now();
    const result = await request;
    const ms = performance.now() - started;
    assert.notEqual(result.status, 500, JSON.stringify(result.body));
    // The errors only: the data holds random tokens, one of which once read "…jPg_I…".
    assert.doesNotMatch(JSON.stringify(result.body.errors ?? []), LEAKS);
    return { result, ms };
  }

  it('a logged-out token stays refused after Redis is flushed, and so does a failed-login lockout', async () => {
    const user = await register();
    const valid = dataOf(await login(user.user.email), 'login');
    assert.equal(dataOf(await logout(user.accessToken), 'logout'), true);
    assert.equal(codeOf(await me(user.accessToken)), 'UNAUTHENTICATED');

    const locked = await register();
    for (let i = 0; i < 5; i++) assert.equal(codeOf(await login(locked.user.email, `guess ${i}`)), 'UNAUTHENTICATED');

    await flushRedis();
    // Until auth has reloaded the revocations the router refuses to decide (UNAVAILABLE); never does it admit.
    const answers = new Set<string | undefined>();
    await waitFor(
      async () => {
        const code = codeOf((await timed(me(user.accessToken))).result);
        answers.add(code ?? 'admitted');
        return code === 'UNAUTHENTICATED';
      },
      { timeoutMs: 5_000, intervalMs: 20, what: 'the logged-out token is refused again' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the router answered: ${[...answers].join(', ')}`, { cause: err });
    });
    assert.deepEqual(
      [...answers].filter((c) => c !== 'UNAUTHENTICATED' && c !== 'UNAVAILABLE'),
      [],
    );
    assert.equal(dataOf(await me(valid.accessToken), 'me').id, user.user.id, 'a valid token works again');
    assert.equal(codeOf(await login(locked.user.email)), 'RATE_LIMITED', 'the lockout outlived Redis');
  });

  it('with Redis cut off, me and login answer within 1 s, never 500, and recover within 2 s of its return', async () => {
    const user = await register();
    const valid = dataOf(await login(user.user.email), 'login');
    const loggedOut = dataOf(await login(user.user.email), 'login');
    assert.equal(dataOf(await logout(loggedOut.accessToken), 'logout'), true);

    redisLink.cut();
    const cutAt = Date.now();
    let noticedAt: number | undefined;
    try {
      const until = cutAt + 1_500;
      while (Date.now() < until) {
        const [ok, out, signIn] = await Promise.all([
          timed(me(valid.accessToken)),
          timed(me(loggedOut.accessToken)),
          timed(login(user.user.email)),
        ]);
        for (const { ms } of [ok, out, signIn]) assert.ok(ms < 1_000, `answered in ${Math.round(ms)} ms`);
        // Never let through, not even at the instant of the cut: its revocation is in the router's copy.
        assert.ok(['UNAVAILABLE', 'UNAUTHENTICATED'].includes(codeOf(out.result) ?? 'admitted'), 'logged-out token');
        // The router learns of the cut when its Redis connections close. A request read in the same instant may
        // still be decided by its revocation copy, current until then (the copy may be up to 1 s behind by
        // design); from then on, tokens cannot be checked against the revocations: refused for now, with a
        // retryable code. (With the token check synchronous, the first request after the cut often wins.)
        if (noticedAt === undefined && codeOf(ok.result) === 'UNAVAILABLE') noticedAt = Date.now();
        if (noticedAt !== undefined) {
          assert.equal(codeOf(ok.result), 'UNAVAILABLE');
          assert.equal(ok.result.headers.get('retry-after'), '2');
          assert.equal(codeOf(out.result), 'UNAVAILABLE', 'the logged-out token is not let through');
        }
        // Login needs no Redis (its limits live in Postgres): it keeps working.
        assert.ok(dataOf(signIn.result, 'login').accessToken);
      }
      assert.ok(
        noticedAt !== undefined && noticedAt - cutAt < 1_000,
        `tokens refused ${noticedAt! - cutAt} ms after the cut`,
      );
      const ready = await fetch(new URL('/health/ready', stack.url));
      assert.equal(ready.status, 503);
      assert.deepEqual(((await ready.json()) as { checks: Record<string, string> }).checks['redis'], 'unavailable');
    } finally {
      redisLink.restore();
    }
    const back = performance.now();
    await waitFor(async () => codeOf(await me(valid.accessToken)) === undefined, {
      timeoutMs: 2_000,
      intervalMs: 20,
      what: 'me works again after Redis returned',
    });
    const recovered = performance.now() - back;
    assert.ok(recovered < 2_000, `recovered in ${Math.round(recovered)} ms`);
    assert.equal(codeOf(await me(loggedOut.accessToken)), 'UNAUTHENTICATED', 'still refused after the outage');
  });

  it('20 parallel correct logins of one account all succeed', async () => {
    const user = await register();
    const results = await Promise.all(Array.from({ length: 20 }, () => login(user.user.email)));
    for (const result of results) assert.ok(dataOf(result, 'login').accessToken, JSON.stringify(result.body));
  });

  it(`a ${OUTAGE_MS} ms Redis outage right after deleteUser still revokes everything, with nothing dead-lettered`, async () => {
    const user = await register();
    const other = dataOf(await login(user.user.email), 'login');
    const deleted = await stack.gql(DELETE_USER, { id: user.user.id }, { token: user.accessToken });
    assert.equal(dataOf(deleted, 'deleteUser'), true);
    redisLink.cut();
    try {
      const db = new pg.Client({ connectionString: direct(domainDatabaseUrl(stack.config, 'auth')) });
      await db.connect();
      try {
        await waitFor(
          async () => {
            const { rows } = await db.query<{ live: string }>(
              'SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS live FROM refresh_token_families WHERE user_id = $1',
              [user.user.id],
            );
            return rows[0]!.live === '0';
          },
          { timeoutMs: OUTAGE_MS + 20_000, intervalMs: 50, what: 'sessions revoked during the outage' },
        );
      } finally {
        await db.end();
      }
      await delay(OUTAGE_MS);
    } finally {
      redisLink.restore();
    }
    for (const tokens of [user, other]) {
      await waitFor(async () => codeOf(await me(tokens.accessToken)) === 'UNAUTHENTICATED', {
        timeoutMs: 3_000,
        intervalMs: 20,
        what: "the deleted user's access token is refused",
      });
      assert.equal(codeOf(await stack.gql(REFRESH, { refreshToken: tokens.refreshToken })), 'UNAUTHENTICATED');
    }
    const admin = createKafka({
      brokers: kafkaBrokers(stack.config),
      clientId: 'fault-test',
      logger: createLogger({ service: 'fault-test', level: 'silent' }),
    }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets('user.events.dlq');
      assert.deepEqual(
        offsets.map((o) => o.high),
        offsets.map(() => '0'),
        'nothing dead-lettered',
      );
    } finally {
      await admin.disconnect();
    }
  });

  it('with Postgres cut off, requests fail fast with UNAVAILABLE, readiness shows it, and it recovers without a restart', async () => {
    const user = await register();
    postgresLink.cut();
    try {
      for (let i = 0; i < 3; i++) {
        const { result, ms } = await timed(login(user.user.email));
        assert.equal(codeOf(result), 'UNAVAILABLE', JSON.stringify(result.body));
        assert.ok(ms < 2_500, `answered in ${Math.round(ms)} ms`);
      }
      const ready = await fetch(new URL('/health/ready', stack.subgraphUrls['auth']));
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks['database'], 'unavailable');
    } finally {
      postgresLink.restore();
    }
    await waitFor(async () => codeOf(await login(user.user.email)) === undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'login works again after Postgres returned',
    });
    const ready = await fetch(new URL('/health/ready', stack.subgraphUrls['auth']));
    assert.equal(ready.status, 200);
  });
});
