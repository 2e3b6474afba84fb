import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { AppError, anonymous, type Identity, type Role } from '@mall/platform';
import { AccessTokenIssuer } from '../data/access-tokens.ts';
import { buildSigningKeys, generatePrivateKeyPem } from '../data/signing-keys.ts';
import type { StoredRefreshToken } from '../domain/refresh-tokens.ts';
import {
  type AccessTokenDenylist,
  type Account,
  type AccountDirectory,
  AuthService,
  type LoginLimiter,
  type LoginSubject,
  type RevokeReason,
  type SessionStore,
} from '../service.ts';

// In-memory ports with the same contracts as the Postgres/Redis/user-subgraph ones.

class FakeAccounts implements AccountDirectory {
  readonly byEmail = new Map<string, { account: Account; password: string }>();
  readonly deleted = new Set<string>();
  rolesOverride = new Map<string, Role[]>();
  failWith: Error | undefined;
  calls = 0;
  #next = 100;

  add(email: string, password: string, roles: Role[] = ['CUSTOMER']): Account {
    const account: Account = {
      id: String(this.#next++),
      email,
      name: null,
      roles,
      createdAt: '2026-11-25T00:00:00.000Z',
    };
    this.byEmail.set(email, { account, password });
    return account;
  }
  async createAccount(input: { email: string; password: string; name: string | null }): Promise<Account> {
    this.calls++;
    if (this.byEmail.has(input.email)) throw new AppError('CONFLICT', 'Email is already registered');
    return { ...this.add(input.email, input.password), name: input.name };
  }
  async verifyCredentials(email: string, password: string): Promise<Account | null> {
    this.calls++;
    if (this.failWith) throw this.failWith;
    const entry = this.byEmail.get(email);
    return entry && entry.password === password && !this.deleted.has(entry.account.id) ? entry.account : null;
  }
  async accountForSession(userId: string): Promise<Account | null> {
    this.calls++;
    if (this.deleted.has(userId)) return null;
    const entry = [...this.byEmail.values()].find((e) => e.account.id === userId);
    if (!entry) return null;
    return { ...entry.account, roles: this.rolesOverride.get(userId) ?? entry.account.roles };
  }
}

interface Row {
  id: string;
  familyId: string;
  hash: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

class FakeSessions implements SessionStore {
  readonly families = new Map<string, { userId: string; revokedAt: Date | null; reason: RevokeReason | null }>();
  readonly tokens: Row[] = [];
  /** Simulates a concurrent refresh that spends the token between find() and rotate(). */
  stealNextRotation = false;
  #next = 1;

  async open(input: { userId: string; tokenHash: Uint8Array; expiresAt: Date }): Promise<string> {
    const familyId = String(this.#next++);
    this.families.set(familyId, { userId: input.userId, revokedAt: null, reason: null });
    this.tokens.push({
      id: String(this.#next++),
      familyId,
      hash: Buffer.from(input.tokenHash).toString('hex'),
      expiresAt: input.expiresAt,
      usedAt: null,
      revokedAt: null,
    });
    return familyId;
  }
  async find(tokenHash: Uint8Array): Promise<StoredRefreshToken | null> {
    const row = this.tokens.find((t) => t.hash === Buffer.from(tokenHash).toString('hex'));
    if (!row) return null;
    const family = this.families.get(row.familyId)!;
    return {
      id: row.id,
      familyId: row.familyId,
      userId: family.userId,
      expiresAt: row.expiresAt,
      usedAt: row.usedAt,
      revokedAt: row.revokedAt,
      familyRevokedAt: family.revokedAt,
    };
  }
  async rotate(input: {
    tokenId: string;
    familyId: string;
    tokenHash: Uint8Array;
    expiresAt: Date;
    now: Date;
  }): Promise<boolean> {
    const row = this.tokens.find((t) => t.id === input.tokenId)!;
    if (this.stealNextRotation) {
      this.stealNextRotation = false;
      row.usedAt = input.now;
    }
    if (row.usedAt || row.revokedAt || this.families.get(input.familyId)!.revokedAt) return false;
    row.usedAt = input.now;
    this.tokens.push({
      id: String(this.#next++),
      familyId: input.familyId,
      hash: Buffer.from(input.tokenHash).toString('hex'),
      expiresAt: input.expiresAt,
      usedAt: null,
      revokedAt: null,
    });
    return true;
  }
  async revokeFamily(familyId: string, reason: RevokeReason, options: { userId?: string } = {}): Promise<void> {
    const family = this.families.get(familyId);
    if (!family || family.revokedAt || (options.userId !== undefined && family.userId !== options.userId)) return;
    family.revokedAt = new Date();
    family.reason = reason;
    for (const t of this.tokens) if (t.familyId === familyId) t.revokedAt ??= family.revokedAt;
  }
}

class FakeLimiter implements LoginLimiter {
  readonly calls: string[] = [];
  retryAfter = 0;
  async attempt(subject: LoginSubject): Promise<number> {
    this.calls.push(`attempt ${subject.email} ${subject.ip}`);
    return this.retryAfter;
  }
  async succeeded(subject: LoginSubject): Promise<void> {
    this.calls.push(`succeeded ${subject.email}`);
  }
  async refund(subject: LoginSubject): Promise<void> {
    this.calls.push(`refund ${subject.email}`);
  }
}

class FakeDenylist implements AccessTokenDenylist {
  readonly denied = new Map<string, number>();
  async deny(jti: string, expiresAt: number): Promise<void> {
    this.denied.set(jti, expiresAt);
  }
}

const caller = (identity: Partial<Identity> = {}) => ({
  identity: { ...anonymous('req-1'), clientIp: '203.0.113.9', ...identity },
  requestId: 'req-1',
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

describe('AuthService', async () => {
  const keys = await buildSigningKeys(generatePrivateKeyPem(), undefined);
  let accounts: FakeAccounts;
  let sessions: FakeSessions;
  let limiter: FakeLimiter;
  let denylist: FakeDenylist;
  let auth: AuthService;

  beforeEach(() => {
    accounts = new FakeAccounts();
    sessions = new FakeSessions();
    limiter = new FakeLimiter();
    denylist = new FakeDenylist();
    auth = new AuthService({
      accounts,
      sessions,
      limiter,
      denylist,
      accessTokens: new AccessTokenIssuer(keys.current, { issuer: 'i', audience: 'a', ttlSeconds: 900 }),
      refreshTokenTtlSeconds: 3600,
    });
  });

  describe('register', () => {
    it('creates the account and opens a session for it', async () => {
      const payload = await auth.register(
        { email: 'Ada@Example.com', password: 'correct horse', name: 'Ada' },
        caller(),
      );
      assert.equal(payload.user.email, 'ada@example.com');
      assert.equal(payload.user.name, 'Ada');
      assert.equal(payload.expiresIn, 900);
      assert.equal(sessions.families.size, 1);
      assert.equal([...sessions.families.values()][0]!.userId, payload.user.id);
    });

    it('answers bad input without calling the user subgraph', async () => {
      await expectCode(
        auth.register({ email: '', password: 'short', name: 'x'.repeat(10_240) }, caller()),
        'BAD_USER_INPUT',
      );
      assert.equal(accounts.calls, 0);
    });

    it('passes CONFLICT through and opens no session', async () => {
      accounts.add('ada@example.com', 'whatever1');
      await expectCode(auth.register({ email: 'ada@example.com', password: 'correct horse' }, caller()), 'CONFLICT');
      assert.equal(sessions.families.size, 0);
    });
  });

  describe('login', () => {
    it('counts the attempt, then forgives it on success', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const payload = await auth.login({ email: 'ADA@example.com', password: 'correct horse' }, caller());
      assert.equal(payload.user.email, 'ada@example.com');
      assert.deepEqual(limiter.calls, ['attempt ada@example.com 203.0.113.9', 'succeeded ada@example.com']);
    });

    it('gives one answer for a wrong password and an unknown email', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const wrong = await expectCode(
        auth.login({ email: 'ada@example.com', password: 'wrong horse' }, caller()),
        'UNAUTHENTICATED',
      );
      const unknown = await expectCode(
        auth.login({ email: 'nobody@example.com', password: 'wrong horse' }, caller()),
        'UNAUTHENTICATED',
      );
      assert.equal(wrong.message, 'Invalid email or password');
      assert.equal(unknown.message, wrong.message);
      assert.deepEqual(unknown.extensions, wrong.extensions);
      assert.deepEqual(limiter.calls, [
        'attempt ada@example.com 203.0.113.9',
        'attempt nobody@example.com 203.0.113.9',
      ]);
    });

    it('refuses while limited, without checking the password', async () => {
      accounts.add('ada@example.com', 'correct horse');
      limiter.retryAfter = 321;
      const err = await expectCode(
        auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller()),
        'RATE_LIMITED',
      );
      assert.equal(err.extensions['retryAfterSeconds'], 321);
      assert.equal(accounts.calls, 0);
    });

    it('uncounts an attempt that never got a verdict', async () => {
      accounts.failWith = new Error('user subgraph down');
      await assert.rejects(auth.login({ email: 'ada@example.com', password: 'x' }, caller()), /user subgraph down/);
      assert.deepEqual(limiter.calls, ['attempt ada@example.com 203.0.113.9', 'refund ada@example.com']);
    });
  });

  describe('refresh', () => {
    it('rotates: the new token works once, the old one is spent', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      const second = await auth.refresh(first.refreshToken, caller());
      assert.notEqual(second.refreshToken, first.refreshToken);
      assert.notEqual(second.accessToken, first.accessToken);
      const third = await auth.refresh(second.refreshToken, caller());
      assert.ok(third.refreshToken);
      assert.equal(sessions.families.size, 1, 'rotation stays in the family');
    });

    it('treats reuse of a spent token as theft: the whole family is revoked, newest token included', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      const second = await auth.refresh(first.refreshToken, caller());
      await expectCode(auth.refresh(first.refreshToken, caller()), 'UNAUTHENTICATED');
      assert.equal([...sessions.families.values()][0]!.reason, 'reuse');
      await expectCode(auth.refresh(second.refreshToken, caller()), 'UNAUTHENTICATED');
    });

    it('revokes the family when it loses a rotation race (the same token was used twice)', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      sessions.stealNextRotation = true;
      await expectCode(auth.refresh(first.refreshToken, caller()), 'UNAUTHENTICATED');
      assert.equal([...sessions.families.values()][0]!.reason, 'reuse');
    });

    it('puts the current roles in the new access token', async () => {
      const ada = accounts.add('ada@example.com', 'correct horse');
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      accounts.rolesOverride.set(ada.id, ['CUSTOMER', 'MERCHANT']);
      const second = await auth.refresh(first.refreshToken, caller());
      assert.deepEqual(second.user.roles, ['CUSTOMER', 'MERCHANT']);
      const claims = JSON.parse(Buffer.from(second.accessToken.split('.')[1]!, 'base64url').toString()) as {
        roles: string[];
      };
      assert.deepEqual(claims.roles, ['CUSTOMER', 'MERCHANT']);
    });

    it('ends the session of a deleted account', async () => {
      const ada = accounts.add('ada@example.com', 'correct horse');
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      accounts.deleted.add(ada.id);
      await expectCode(auth.refresh(first.refreshToken, caller()), 'UNAUTHENTICATED');
      assert.equal([...sessions.families.values()][0]!.reason, 'account_deleted');
    });

    it('refuses unknown and malformed tokens the same way', async () => {
      const a = await expectCode(auth.refresh('A'.repeat(43), caller()), 'UNAUTHENTICATED');
      const b = await expectCode(auth.refresh('x'.repeat(10_240), caller()), 'UNAUTHENTICATED');
      assert.equal(a.message, b.message);
      assert.equal(accounts.calls, 0);
    });

    it('refuses an expired token without ending the family', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const t0 = new Date('2026-11-25T00:00:00Z');
      let now = t0;
      auth = new AuthService({
        accounts,
        sessions,
        limiter,
        denylist,
        accessTokens: new AccessTokenIssuer(keys.current, { issuer: 'i', audience: 'a', ttlSeconds: 900 }),
        refreshTokenTtlSeconds: 3600,
        now: () => now,
      });
      const first = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      now = new Date(t0.getTime() + 3600_000);
      await expectCode(auth.refresh(first.refreshToken, caller()), 'UNAUTHENTICATED');
      assert.equal([...sessions.families.values()][0]!.revokedAt, null);
    });
  });

  describe('logout', () => {
    it('denylists the access token until its exp and revokes its family', async () => {
      accounts.add('ada@example.com', 'correct horse');
      const payload = await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      const [familyId] = [...sessions.families.keys()];
      const session = { id: familyId!, tokenId: 'jti-1', expiresAt: 1_900_000_000 };
      assert.equal(await auth.logout(caller({ userId: payload.user.id, roles: ['CUSTOMER'], session })), true);
      assert.equal(denylist.denied.get('jti-1'), 1_900_000_000);
      assert.equal(sessions.families.get(familyId!)!.reason, 'logout');
      await expectCode(auth.refresh(payload.refreshToken, caller()), 'UNAUTHENTICATED');
    });

    it("does not revoke another user's family", async () => {
      accounts.add('ada@example.com', 'correct horse');
      await auth.login({ email: 'ada@example.com', password: 'correct horse' }, caller());
      const [familyId] = [...sessions.families.keys()];
      await auth.logout(
        caller({
          userId: '999',
          roles: ['CUSTOMER'],
          session: { id: familyId!, tokenId: 'j', expiresAt: 1_900_000_000 },
        }),
      );
      assert.equal(sessions.families.get(familyId!)!.revokedAt, null);
    });

    it('needs a signed-in caller with a session', async () => {
      await expectCode(auth.logout(caller()), 'UNAUTHENTICATED');
      await expectCode(auth.logout(caller({ userId: '1', roles: ['CUSTOMER'], session: null })), 'UNAUTHENTICATED');
      assert.equal(denylist.denied.size, 0);
    });
  });
});
