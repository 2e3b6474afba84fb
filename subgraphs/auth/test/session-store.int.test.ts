import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PrismaSessionStore, revokeUserSessions } from '../data/session-store.ts';
import { generateRefreshToken, hashRefreshToken } from '../domain/refresh-tokens.ts';
import { type AuthTestDatabase, createAuthTestDatabase } from './helpers.ts';

const hour = 3600_000;
const future = () => new Date(Date.now() + hour);

describe('PrismaSessionStore (Postgres)', () => {
  let db: AuthTestDatabase;
  let store: PrismaSessionStore;

  before(async () => {
    db = await createAuthTestDatabase();
    store = new PrismaSessionStore(db.prisma, db.ids);
  });
  after(() => db?.close());

  const openSession = async (userId = '1001') => {
    const token = generateRefreshToken();
    const familyId = await store.open({ userId, tokenHash: hashRefreshToken(token), expiresAt: future() });
    return { token, familyId };
  };

  it('stores only the hash and finds the token by it', async () => {
    const { token, familyId } = await openSession('1001');
    const found = await store.find(hashRefreshToken(token));
    assert.ok(found);
    assert.equal(found.familyId, familyId);
    assert.equal(found.userId, '1001');
    assert.equal(found.usedAt, null);
    const rows = await db.prisma.$queryRaw<
      { n: bigint }[]
    >`SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = sha256(convert_to(${token}, 'UTF8'))`;
    assert.equal(rows[0]!.n, 1n, 'the row holds the SHA-256 of the token, as Postgres computes it');
    assert.equal(await store.find(hashRefreshToken(generateRefreshToken())), null);
  });

  it('lets exactly one of many concurrent rotations of a token win', async () => {
    const { token, familyId } = await openSession();
    const stored = (await store.find(hashRefreshToken(token)))!;
    const successors = Array.from({ length: 10 }, generateRefreshToken);
    const results = await Promise.all(
      successors.map((next) =>
        store.rotate({
          tokenId: stored.id,
          familyId,
          tokenHash: hashRefreshToken(next),
          expiresAt: future(),
          now: new Date(),
        }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = successors[results.indexOf(true)]!;
    const old = await db.prisma.refreshToken.findUniqueOrThrow({ where: { id: BigInt(stored.id) } });
    const next = await db.prisma.refreshToken.findUniqueOrThrow({ where: { tokenHash: hashRefreshToken(winner) } });
    assert.ok(old.usedAt);
    assert.equal(old.replacedBy, next.id, 'the chain links the spent token to its successor');
    assert.equal(
      await db.prisma.refreshToken.count({ where: { familyId: BigInt(familyId) } }),
      2,
      'losers added nothing',
    );
  });

  it('does not rotate a token of a revoked family', async () => {
    const { token, familyId } = await openSession();
    const stored = (await store.find(hashRefreshToken(token)))!;
    await store.revokeFamily(familyId, 'logout');
    assert.equal(
      await store.rotate({
        tokenId: stored.id,
        familyId,
        tokenHash: hashRefreshToken(generateRefreshToken()),
        expiresAt: future(),
        now: new Date(),
      }),
      false,
    );
  });

  it('revokes a family and every token in it, once', async () => {
    const { token, familyId } = await openSession();
    const stored = (await store.find(hashRefreshToken(token)))!;
    const next = generateRefreshToken();
    assert.ok(
      await store.rotate({
        tokenId: stored.id,
        familyId,
        tokenHash: hashRefreshToken(next),
        expiresAt: future(),
        now: new Date(),
      }),
    );
    await store.revokeFamily(familyId, 'reuse');
    await store.revokeFamily(familyId, 'logout');
    const family = await db.prisma.refreshTokenFamily.findUniqueOrThrow({
      where: { id: BigInt(familyId) },
      include: { tokens: true },
    });
    assert.ok(family.revokedAt);
    assert.equal(family.revokedReason, 'reuse', 'the first reason stays');
    assert.equal(family.tokens.length, 2);
    assert.ok(family.tokens.every((t) => t.revokedAt));
    assert.ok((await store.find(hashRefreshToken(next)))!.familyRevokedAt);
  });

  it('revokes a family only for its own user when asked to check', async () => {
    const { familyId } = await openSession('2001');
    await store.revokeFamily(familyId, 'logout', { userId: '2002' });
    assert.equal(
      (await db.prisma.refreshTokenFamily.findUniqueOrThrow({ where: { id: BigInt(familyId) } })).revokedAt,
      null,
    );
    await store.revokeFamily(familyId, 'logout', { userId: '2001' });
    assert.ok((await db.prisma.refreshTokenFamily.findUniqueOrThrow({ where: { id: BigInt(familyId) } })).revokedAt);
  });

  it('ignores ids that are not ours instead of failing', async () => {
    await store.revokeFamily('not-a-number', 'logout');
    await store.revokeFamily('-1', 'logout', { userId: '1' });
    assert.equal(
      await store.rotate({
        tokenId: 'x',
        familyId: 'y',
        tokenHash: hashRefreshToken('z'),
        expiresAt: future(),
        now: new Date(),
      }),
      false,
    );
  });

  it("revokes every live family of a user inside the caller's transaction, and nobody else's", async () => {
    const a1 = await openSession('3001');
    const a2 = await openSession('3001');
    const b = await openSession('3002');
    const revoked = await db.prisma.$transaction((tx) => revokeUserSessions(tx, '3001', 'account_deleted'));
    assert.equal(revoked, 2);
    for (const { token } of [a1, a2]) {
      const found = (await store.find(hashRefreshToken(token)))!;
      assert.ok(found.familyRevokedAt && found.revokedAt);
    }
    const other = (await store.find(hashRefreshToken(b.token)))!;
    assert.equal(other.familyRevokedAt, null);
    assert.equal(
      await db.prisma.$transaction((tx) => revokeUserSessions(tx, '3001', 'account_deleted')),
      0,
      'a second run changes nothing',
    );
  });

  it("leaves nothing behind when the caller's transaction rolls back", async () => {
    const { token } = await openSession('4001');
    await assert.rejects(
      db.prisma.$transaction(async (tx) => {
        await revokeUserSessions(tx, '4001', 'account_deleted');
        throw new Error('handler failed later');
      }),
      /handler failed later/,
    );
    assert.equal((await store.find(hashRefreshToken(token)))!.familyRevokedAt, null);
  });
});
