// The auth flows end to end, as a frontend sees them: through the router of a whole isolated stack (user +
// auth subgraphs, embedded Kafka broker, own databases and Redis prefix).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@mall/events/testing';
import { authKeys, configSection, domainDatabaseUrl } from '@mall/platform';
import { errorCode as codeOf, data as dataOf } from '@mall/platform/testing';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import pg from 'pg';
import { authConfig } from '../config.ts';
import { JWKS_PATH } from '../index.ts';
import {
  DELETE_USER,
  LOGIN,
  LOGOUT,
  ME,
  PASSWORD,
  REFRESH,
  REGISTER,
  type Registered,
  type Tokens,
  uniqueEmail,
} from './operations.ts';

describe('auth through the router', () => {
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({ subgraphs: ['user', 'auth'] });
  });
  after(() => stack?.close());

  const register = async (email = uniqueEmail('user'), name: string | null = 'Test User') =>
    dataOf<Registered>(await stack.gql(REGISTER, { input: { email, password: PASSWORD, name } }), 'register');
  const login = (email: string, password = PASSWORD) =>
    stack.gql<Record<string, Registered>>(LOGIN, { email, password });
  const refresh = (refreshToken: string) => stack.gql<Record<string, Tokens>>(REFRESH, { refreshToken });
  const me = (token: string) =>
    stack.gql<Record<string, Registered['user'] & { createdAt: string }>>(ME, {}, { token });

  it('Register → Login → me → Refresh → Logout', async () => {
    const email = uniqueEmail('flow');
    const registered = await register(email, 'Ada');
    assert.equal(registered.user.email, email);
    assert.equal(registered.user.name, 'Ada');
    assert.deepEqual(registered.user.roles, ['CUSTOMER']);
    assert.equal(registered.expiresIn, configSection(stack.config, authConfig).accessTokenTtlSeconds);

    const loggedIn = dataOf(await login(email.toUpperCase()), 'login');
    assert.equal(loggedIn.user.id, registered.user.id);

    const profile = dataOf(await me(loggedIn.accessToken), 'me');
    assert.equal(profile.id, registered.user.id);
    assert.equal(profile.email, email);
    assert.ok(!Number.isNaN(Date.parse(profile.createdAt)));

    const refreshed = dataOf(await refresh(loggedIn.refreshToken), 'refreshToken');
    assert.notEqual(refreshed.refreshToken, loggedIn.refreshToken);
    assert.equal(dataOf(await me(refreshed.accessToken), 'me').id, registered.user.id);

    const loggedOut = await stack.gql<Record<string, boolean>>(LOGOUT, {}, { token: refreshed.accessToken });
    assert.equal(dataOf(loggedOut, 'logout'), true);

    assert.equal(codeOf(await me(refreshed.accessToken)), 'UNAUTHENTICATED', 'the logged-out access token is refused');
    assert.equal(codeOf(await refresh(refreshed.refreshToken)), 'UNAUTHENTICATED', 'the session cannot be renewed');
    // Logout ends that session only: the one register opened lives on.
    assert.equal(dataOf(await me(registered.accessToken), 'me').id, registered.user.id);
    assert.ok(dataOf(await refresh(registered.refreshToken), 'refreshToken').accessToken);
  });

  it('reusing a rotated refresh token revokes the whole family, newest token included', async () => {
    const { refreshToken: first } = await register();
    const second = dataOf(await refresh(first), 'refreshToken');
    const reuse = await refresh(first);
    assert.equal(codeOf(reuse), 'UNAUTHENTICATED');
    assert.equal(reuse.body.data, null);
    assert.equal(codeOf(await refresh(second.refreshToken)), 'UNAUTHENTICATED');
  });

  it('lets exactly one of several concurrent refreshes of one token through', async () => {
    const { refreshToken } = await register();
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(refreshToken)));
    assert.equal(results.filter((r) => r.body.data?.['refreshToken']).length, 1);
    assert.deepEqual(
      new Set(results.filter((r) => !r.body.data?.['refreshToken']).map(codeOf)),
      new Set(['UNAUTHENTICATED']),
    );
  });

  it('refuses GraphQL requests that bypass the router, while the JWKS stays public', async () => {
    const direct = await fetch(new URL('/graphql', stack.subgraphUrls['auth']), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: LOGIN, variables: { email: 'a@example.com', password: PASSWORD } }),
    });
    assert.equal(direct.status, 401);
    assert.equal(
      ((await direct.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code,
      'UNAUTHENTICATED',
    );
    assert.equal((await fetch(new URL(JWKS_PATH, stack.subgraphUrls['auth']))).status, 200);
  });

  it('refuses logout without a signed-in caller', async () => {
    assert.equal(codeOf(await stack.gql(LOGOUT)), 'UNAUTHENTICATED');
  });

  it('answers an unknown email and a wrong password alike, in about the same time', async () => {
    // Two accounts, each kept under the per-account limit: 8 samples a side, so one slow login on a loaded
    // machine does not move the median.
    const accounts = [(await register()).user, (await register()).user];
    const timed = async (email: string, password: string) => {
      const started = performance.now();
      const result = await login(email, password);
      return { result, ms: performance.now() - started };
    };
    const wrong: Awaited<ReturnType<typeof timed>>[] = [];
    const unknown: Awaited<ReturnType<typeof timed>>[] = [];
    // Interleaved, and under the per-account limit, so load drifts hit both sides alike.
    for (let i = 0; i < 8; i++) {
      wrong.push(await timed(accounts[i % 2]!.email, `wrong ${PASSWORD}`));
      unknown.push(await timed(uniqueEmail('nobody'), `wrong ${PASSWORD}`));
    }
    for (const { result } of [...wrong, ...unknown]) {
      assert.equal(codeOf(result), 'UNAUTHENTICATED');
      assert.equal(result.body.errors?.[0]?.message, 'Invalid email or password');
      assert.deepEqual(result.body.errors?.[0]?.extensions, { code: 'UNAUTHENTICATED' });
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown.map((t) => t.ms)) / median(wrong.map((t) => t.ms));
    // Without the dummy-hash check an unknown email answers ~20× faster; the band leaves room for noise.
    assert.ok(ratio > 0.4 && ratio < 2.5, `unknown/wrong median time ratio ${ratio.toFixed(2)}`);
  });

  it('limits failed logins per account with RATE_LIMITED and a retry time, and then refuses even the right password', async () => {
    const { user } = await register();
    for (let i = 0; i < 5; i++)
      assert.equal(codeOf(await login(user.email, `guess ${i}`)), 'UNAUTHENTICATED', `failure ${i + 1}`);
    const limited = await login(user.email, `guess 6`);
    assert.equal(codeOf(limited), 'RATE_LIMITED');
    const retryAfter = limited.body.errors?.[0]?.extensions?.['retryAfterSeconds'];
    assert.ok(
      typeof retryAfter === 'number' && retryAfter > 0 && retryAfter <= 900,
      `retryAfterSeconds ${String(retryAfter)}`,
    );
    assert.equal(codeOf(await login(user.email)), 'RATE_LIMITED');
    // The router passed the client's address along, so the per-IP counter runs too.
    const db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'auth') });
    await db.connect();
    try {
      const { rows } = await db.query<{ failures: number }>(
        `SELECT failures FROM login_failure_counters WHERE key LIKE 'ip:%'`,
      );
      assert.equal(rows.length, 1, 'one client IP counted');
      assert.ok(rows[0]!.failures >= 5);
    } finally {
      await db.end();
    }
    // Another account is not affected.
    const other = await register();
    assert.ok(dataOf(await login(other.user.email), 'login').accessToken);
  });

  it("a successful login clears the account's failures", async () => {
    const { user } = await register();
    for (let i = 0; i < 4; i++) await login(user.email, `guess ${i}`);
    dataOf(await login(user.email), 'login');
    for (let i = 0; i < 4; i++) assert.equal(codeOf(await login(user.email, `again ${i}`)), 'UNAUTHENTICATED');
  });

  it('answers bad input with BAD_USER_INPUT and the offending fields, never a 500', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['empty email', { email: '', password: PASSWORD }, 'email'],
      ['malformed email', { email: 'not-an-email', password: PASSWORD }, 'email'],
      ['short password', { email: uniqueEmail('short'), password: 'short' }, 'password'],
      ['long password', { email: uniqueEmail('long'), password: 'p'.repeat(129) }, 'password'],
      ['10 KB name', { email: uniqueEmail('name'), password: PASSWORD, name: 'n'.repeat(10 * 1024) }, 'name'],
    ];
    for (const [label, input, field] of cases) {
      const result = await stack.gql(REGISTER, { input });
      assert.notEqual(result.status, 500, label);
      assert.equal(codeOf(result), 'BAD_USER_INPUT', label);
      const problems = result.body.errors?.[0]?.extensions?.['problems'] as { field: string }[];
      assert.deepEqual(
        problems.map((p) => p.field),
        [field],
        label,
      );
    }
    const emptyLogin = await login('', '');
    assert.equal(codeOf(emptyLogin), 'BAD_USER_INPUT');
    assert.equal(codeOf(await refresh('x'.repeat(10 * 1024))), 'UNAUTHENTICATED');
  });

  it('answers a taken email with CONFLICT, whatever its case', async () => {
    const email = uniqueEmail('taken');
    await register(email);
    const again = await stack.gql(REGISTER, { input: { email: email.toUpperCase(), password: PASSWORD } });
    assert.equal(codeOf(again), 'CONFLICT');
  });

  it('serves the JWKS the access tokens verify with, cacheable', async () => {
    const { accessToken, user } = await register();
    const response = await fetch(new URL(JWKS_PATH, stack.subgraphUrls['auth']));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('cache-control') ?? '', /max-age=\d+/);
    const jwks = (await response.json()) as JSONWebKeySet;
    assert.ok(jwks.keys.length >= 1);
    assert.ok(
      jwks.keys.every((k) => !('d' in k)),
      'no private material is published',
    );
    assert.ok(jwks.keys.some((k) => k.kid === decodeProtectedHeader(accessToken).kid));

    const { payload } = await jwtVerify(accessToken, createLocalJWKSet(jwks), {
      issuer: stack.config.accessTokens.issuer,
      audience: stack.config.accessTokens.audience,
      algorithms: ['EdDSA', 'ES256'],
    });
    assert.equal(payload.sub, user.id);
    assert.deepEqual(payload['roles'], ['CUSTOMER']);
    assert.equal(typeof payload['sid'], 'string');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.exp! - payload.iat! <= 900);

    const post = await fetch(new URL(JWKS_PATH, stack.subgraphUrls['auth']), { method: 'POST' });
    assert.equal(post.status, 405);
  });

  it('deleting an account ends its sessions: refresh fails and its access tokens are refused', async () => {
    const registered = await register();
    const other = dataOf(await login(registered.user.email), 'login');
    const deleted = await stack.gql<Record<string, boolean>>(
      DELETE_USER,
      { id: registered.user.id },
      { token: registered.accessToken },
    );
    assert.equal(dataOf(deleted, 'deleteUser'), true);

    // The effect arrives through user.events; wait for the consumer's commit, then look at the API only.
    const db = new pg.Client({ connectionString: domainDatabaseUrl(stack.config, 'auth') });
    await db.connect();
    try {
      await waitFor(
        async () => {
          const { rows } = await db.query<{ live: string; revoked: string }>(
            `SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS live, count(*) FILTER (WHERE revoked_reason = 'account_deleted') AS revoked
               FROM refresh_token_families WHERE user_id = $1`,
            [registered.user.id],
          );
          // The Redis copy follows the commit (after-commit work): wait for both, then assert on each.
          const copied = await stack.redis.exists(authKeys.userRevokedAt(registered.user.id));
          return rows[0]!.live === '0' && rows[0]!.revoked === '2' && copied === 1;
        },
        { timeoutMs: 20_000, intervalMs: 50, what: "auth revokes the deleted user's sessions" },
      );
    } finally {
      await db.end();
    }
    assert.ok(await stack.redis.get(authKeys.userRevokedAt(registered.user.id)));
    for (const tokens of [registered, other]) {
      assert.equal(codeOf(await me(tokens.accessToken)), 'UNAUTHENTICATED');
      assert.equal(codeOf(await refresh(tokens.refreshToken)), 'UNAUTHENTICATED');
    }
    assert.equal(codeOf(await login(registered.user.email)), 'UNAUTHENTICATED');
  });
});
