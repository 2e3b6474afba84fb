// The auth flows of AuthService on real Postgres and Redis, with the user subgraph replaced by a stub at its
// HTTP boundary: what the service decides (limits, rotation, reuse, revocation) is checked against what it
// actually stored, and the stub lets a test make the user subgraph fail, change roles or delete an account.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  AppError,
  anonymous,
  authKeys,
  createLogger,
  encodeId,
  type Identity,
  IdentitySigner,
  type RequestScope,
  type Role,
  ServiceClient,
} from '@mall/platform';
import { createTestRedis, type GraphQLStubReply, startGraphQLStub, type TestRedis } from '@mall/platform/testing';
import { RevocationMirror } from '../data/access-revocations.ts';
import { accountCounterKey, ipCounterKey } from '../data/login-limiter.ts';
import { hashRefreshToken } from '../data/session-store.ts';
import { buildSigningKeys, generatePrivateKeyPem } from '../data/signing-keys.ts';
import type { Account } from '../data/user-accounts.ts';
import { AuthService, type AuthServiceDeps } from '../service.ts';
import { type AuthTestDatabase, createAuthTestDatabase } from './helpers.ts';

/** The user subgraph's three internal fields over an in-memory account list. */
class UserSubgraphStub {
  readonly byEmail = new Map<string, { account: Account; password: string }>();
  readonly deleted = new Set<string>();
  readonly rolesOverride = new Map<string, Role[]>();
  /** Answers verifyCredentials with this (code-less) error, as a failing user subgraph would. */
  failWith: string | undefined;
  /** Runs before accountForSession answers: a test's chance to act between auth's read and its update. */
  beforeAccountForSession: (() => Promise<void>) | undefined;
  calls = 0;
  readonly #nextId: () => bigint;

  constructor(nextId: () => bigint) {
    this.#nextId = nextId;
  }

  add(email: string, password: string, roles: Role[] = ['CUSTOMER']): Account {
    const account = { id: encodeId(this.#nextId()), email, name: null, roles, createdAt: '2026-11-25T00:00:00.000Z' };
    this.byEmail.set(email, { account, password });
    return account;
  }

  async answer(query: string, variables: Record<string, unknown>): Promise<GraphQLStubReply> {
    this.calls++;
    if (query.includes('createAccount(')) {
      const input = variables['input'] as { email: string; password: string; name: string | null };
      if (this.byEmail.has(input.email))
        return { errors: [{ message: 'Email is already registered', extensions: { code: 'CONFLICT' } }] };
      return { data: { createAccount: { ...this.add(input.email, input.password), name: input.name } } };
    }
    if (query.includes('verifyCredentials(')) {
      if (this.failWith) return { errors: [{ message: this.failWith }] };
      const entry = this.byEmail.get(variables['email'] as string);
      const ok = entry && entry.password === variables['password'] && !this.deleted.has(entry.account.id);
      return { data: { verifyCredentials: ok ? entry.account : null } };
    }
    await this.beforeAccountForSession?.();
    const id = variables['id'] as string;
    const entry = [...this.byEmail.values()].find((e) => e.account.id === id);
    const account =
      entry && !this.deleted.has(id)
        ? { ...entry.account, roles: this.rolesOverride.get(id) ?? entry.account.roles }
        : null;
    return { data: { accountForSession: account } };
  }
}

const logger = createLogger({ level: 'silent' });

const scope = (identity: Partial<Identity> = {}): RequestScope => ({
  identity: { ...anonymous('req-1'), clientIp: '203.0.113.9', ...identity },
  requestId: 'req-1',
  logger,
});

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('AuthService (Postgres, Redis, a stub user subgraph)', async () => {
  const keys = await buildSigningKeys(generatePrivateKeyPem(), undefined);
  let db: AuthTestDatabase;
  let peer: Awaited<ReturnType<typeof startGraphQLStub>>;
  let users: UserSubgraphStub;
  let t: TestRedis;
  let deps: AuthServiceDeps;
  let auth: AuthService;

  before(async () => {
    db = await createAuthTestDatabase();
    peer = await startGraphQLStub(({ query, variables }) => users.answer(query, variables));
  });
  after(async () => {
    await peer?.close();
    await db?.close();
  });
  beforeEach(async () => {
    users = new UserSubgraphStub(() => db.ids.next());
    t = createTestRedis('test:auth');
    // The counters live in the database every test of this file shares; each test starts with none.
    await db.prisma.loginFailureCounter.deleteMany();
    deps = {
      prisma: db.prisma,
      revocations: new RevocationMirror({ prisma: db.prisma, redis: t.redis, logger }),
      users: new ServiceClient({ url: peer.url, target: 'user', signer: new IdentitySigner('s'.repeat(32), 'auth') }),
      signingKey: keys.current,
      accessTokens: { issuer: 'i', audience: 'a', ttlSeconds: 900 },
      refreshTokenTtlSeconds: 3600,
      loginPolicy: { windowSeconds: 900, perAccount: 5, perIp: 50 },
      nextId: () => db.ids.next(),
    };
    auth = new AuthService(deps);
  });
  afterEach(() => t.cleanup());

  const familiesOf = (userId: string) =>
    db.prisma.refreshTokenFamily.findMany({ where: { userId: BigInt(userId) }, orderBy: { id: 'asc' } });
  const onlyFamilyOf = async (userId: string) => {
    const families = await familiesOf(userId);
    assert.equal(families.length, 1);
    return families[0]!;
  };
  /** A failed-login counter as text ('0' when there is none), as the Redis counters used to read. */
  const counter = async (key: string) =>
    String((await db.prisma.loginFailureCounter.findUnique({ where: { key } }))?.failures ?? 0);
  const login = (email = 'ada@example.com', password = 'correct horse') => auth.login(scope(), { email, password });

  describe('register', () => {
    it('creates the account and opens a session for it', async () => {
      const payload = await auth.register(scope(), {
        email: 'Ada@Example.com',
        password: 'correct horse',
        name: 'Ada',
      });
      assert.equal(payload.user.email, 'ada@example.com');
      assert.equal(payload.user.name, 'Ada');
      assert.equal(payload.expiresIn, 900);
      await onlyFamilyOf(payload.user.id);
    });

    it('answers bad input without calling the user subgraph', async () => {
      await expectCode(
        auth.register(scope(), { email: '', password: 'short', name: 'x'.repeat(10_240) }),
        'BAD_USER_INPUT',
      );
      assert.equal(users.calls, 0);
    });

    it('passes CONFLICT through and opens no session', async () => {
      const ada = users.add('ada@example.com', 'whatever1');
      await expectCode(auth.register(scope(), { email: 'ada@example.com', password: 'correct horse' }), 'CONFLICT');
      assert.equal((await familiesOf(ada.id)).length, 0);
      assert.equal(users.byEmail.size, 1);
    });
  });

  describe('login', () => {
    it('counts nothing for a correct login and forgives the account its failures', async () => {
      users.add('ada@example.com', 'correct horse');
      await expectCode(login('ada@example.com', 'wrong horse'), 'UNAUTHENTICATED');
      const payload = await auth.login(scope(), { email: 'ADA@example.com', password: 'correct horse' });
      assert.equal(payload.user.email, 'ada@example.com');
      assert.equal(await counter(accountCounterKey('ada@example.com')), '0', 'the account is forgiven');
      assert.equal(await counter(ipCounterKey('203.0.113.9')), '1', 'the IP keeps its one failure, not the success');
    });

    it('lets twenty concurrent correct logins of one account all through', async () => {
      users.add('ada@example.com', 'correct horse');
      const results = await Promise.all(Array.from({ length: 20 }, () => login()));
      assert.equal(results.length, 20);
      assert.equal(await counter(accountCounterKey('ada@example.com')), '0');
    });

    it('gives one answer for a wrong password and an unknown email', async () => {
      users.add('ada@example.com', 'correct horse');
      const wrong = await expectCode(login('ada@example.com', 'wrong horse'), 'UNAUTHENTICATED');
      const unknown = await expectCode(login('nobody@example.com', 'wrong horse'), 'UNAUTHENTICATED');
      assert.equal(wrong.message, 'Invalid email or password');
      assert.equal(unknown.message, wrong.message);
      assert.deepEqual(unknown.extensions, wrong.extensions);
      assert.equal(await counter(accountCounterKey('ada@example.com')), '1');
      assert.equal(await counter(accountCounterKey('nobody@example.com')), '1');
      assert.equal(await counter(ipCounterKey('203.0.113.9')), '2');
    });

    it('refuses while limited, without checking the password', async () => {
      users.add('ada@example.com', 'correct horse');
      await db.prisma.loginFailureCounter.create({
        data: { key: accountCounterKey('ada@example.com'), failures: 5, windowEndsAt: new Date(Date.now() + 321_000) },
      });
      const err = await expectCode(login(), 'RATE_LIMITED');
      const retryAfter = err.extensions['retryAfterSeconds'] as number;
      assert.ok(retryAfter <= 321 && retryAfter >= 320, `retryAfterSeconds ${retryAfter}`);
      assert.equal(users.calls, 0);
    });

    it('counts nothing for an attempt that never got a verdict', async () => {
      users.failWith = 'user subgraph down';
      await assert.rejects(login('ada@example.com', 'x'), /user subgraph down/);
      assert.equal(await counter(accountCounterKey('ada@example.com')), '0');
      assert.equal(await counter(ipCounterKey('203.0.113.9')), '0');
    });
  });

  describe('refresh', () => {
    it('rotates: the new token works once, the old one is spent', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const first = await login();
      const second = await auth.refresh(scope(), first.refreshToken);
      assert.notEqual(second.refreshToken, first.refreshToken);
      assert.notEqual(second.accessToken, first.accessToken);
      const third = await auth.refresh(scope(), second.refreshToken);
      assert.ok(third.refreshToken);
      const family = await onlyFamilyOf(ada.id);
      assert.equal(
        await db.prisma.refreshToken.count({ where: { familyId: family.id } }),
        3,
        'rotation stays in the family',
      );
    });

    it('treats reuse of a spent token as theft: the whole family is revoked, newest token included', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const first = await login();
      const second = await auth.refresh(scope(), first.refreshToken);
      await expectCode(auth.refresh(scope(), first.refreshToken), 'UNAUTHENTICATED');
      assert.equal((await onlyFamilyOf(ada.id)).revokedReason, 'reuse');
      await expectCode(auth.refresh(scope(), second.refreshToken), 'UNAUTHENTICATED');
    });

    it('revokes the family when it loses a rotation race (the same token was used twice)', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const first = await login();
      // Another refresh spends the token after ours read it, while ours asks the user subgraph for the account.
      users.beforeAccountForSession = async () => {
        await db.prisma.refreshToken.updateMany({
          where: { tokenHash: hashRefreshToken(first.refreshToken) },
          data: { usedAt: new Date() },
        });
      };
      await expectCode(auth.refresh(scope(), first.refreshToken), 'UNAUTHENTICATED');
      assert.equal((await onlyFamilyOf(ada.id)).revokedReason, 'reuse');
    });

    it('puts the current roles in the new access token', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const first = await login();
      users.rolesOverride.set(ada.id, ['CUSTOMER', 'MERCHANT']);
      const second = await auth.refresh(scope(), first.refreshToken);
      assert.deepEqual(second.user.roles, ['CUSTOMER', 'MERCHANT']);
      const claims = JSON.parse(Buffer.from(second.accessToken.split('.')[1]!, 'base64url').toString()) as {
        roles: string[];
      };
      assert.deepEqual(claims.roles, ['CUSTOMER', 'MERCHANT']);
    });

    it('ends the session of a deleted account', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const first = await login();
      users.deleted.add(ada.id);
      await expectCode(auth.refresh(scope(), first.refreshToken), 'UNAUTHENTICATED');
      assert.equal((await onlyFamilyOf(ada.id)).revokedReason, 'account_deleted');
    });

    it('refuses unknown and malformed tokens the same way', async () => {
      const a = await expectCode(auth.refresh(scope(), 'A'.repeat(43)), 'UNAUTHENTICATED');
      const b = await expectCode(auth.refresh(scope(), 'x'.repeat(10_240)), 'UNAUTHENTICATED');
      assert.equal(a.message, b.message);
      assert.equal(users.calls, 0);
    });

    it('refuses an expired token without ending the family', async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      const t0 = new Date();
      let now = t0;
      auth = new AuthService({ ...deps, now: () => now });
      const first = await login();
      now = new Date(t0.getTime() + 3600_000);
      await expectCode(auth.refresh(scope(), first.refreshToken), 'UNAUTHENTICATED');
      assert.equal((await onlyFamilyOf(ada.id)).revokedAt, null);
    });
  });

  describe('logout', () => {
    it('denylists the access token until its exp and revokes its family', async () => {
      users.add('ada@example.com', 'correct horse');
      const payload = await login();
      const family = await onlyFamilyOf(payload.user.id);
      const session = { id: encodeId(family.id), tokenId: 'jti-1', expiresAt: 1_900_000_000 };
      assert.equal(await auth.logout(scope({ userId: payload.user.id, roles: ['CUSTOMER'], session })), true);
      // The entry lives until the token's exp plus the one-minute clock margin.
      const expected = 1_900_000_000 + 60 - Math.floor(Date.now() / 1000);
      const ttl = await t.redis.ttl(authKeys.deniedAccessToken('jti-1'));
      assert.ok(ttl <= expected && ttl >= expected - 5, `ttl ${ttl}, expected ${expected}`);
      const stored = await db.prisma.deniedAccessToken.findUniqueOrThrow({ where: { jti: 'jti-1' } });
      assert.equal(stored.expiresAt.getTime(), (1_900_000_000 + 60) * 1000, 'the database holds it too');
      assert.ok(stored.syncedAt, 'and knows Redis has it');
      assert.equal((await onlyFamilyOf(payload.user.id)).revokedReason, 'logout');
      await expectCode(auth.refresh(scope(), payload.refreshToken), 'UNAUTHENTICATED');
    });

    it("does not revoke another user's family", async () => {
      const ada = users.add('ada@example.com', 'correct horse');
      await login();
      const family = await onlyFamilyOf(ada.id);
      await auth.logout(
        scope({
          userId: encodeId(db.ids.next()),
          roles: ['CUSTOMER'],
          session: { id: encodeId(family.id), tokenId: 'j', expiresAt: 1_900_000_000 },
        }),
      );
      assert.equal((await onlyFamilyOf(ada.id)).revokedAt, null);
    });

    it('ignores session and user ids that are not ours instead of failing', async () => {
      const session = { id: 'not-a-number', tokenId: 'j2', expiresAt: 1_900_000_000 };
      assert.equal(await auth.logout(scope({ userId: '-1', roles: ['CUSTOMER'], session })), true);
    });

    it('needs a signed-in caller with a session', async () => {
      await expectCode(auth.logout(scope()), 'UNAUTHENTICATED');
      await expectCode(auth.logout(scope({ userId: '1', roles: ['CUSTOMER'], session: null })), 'UNAUTHENTICATED');
      const raw = t.redis.duplicate({ keyPrefix: '' });
      try {
        assert.deepEqual(await raw.keys(`${t.prefix}*`), [], 'nothing was denylisted');
      } finally {
        raw.disconnect();
      }
    });
  });
});
