import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTransaction } from '@mall/platform';
import {
  findRefreshToken,
  hashRefreshToken,
  insertRefreshToken,
  type RevokeReason,
  revokeFamily,
  revokeUserSessions,
  spendRefreshToken,
} from '../data/session-store.ts';
import { type AuthTestDatabase, createAuthTestDatabase, generateRefreshToken, openTestSession } from './helpers.ts';

const hour = 3600_000;
const future = () => new Date(Date.now() + hour);

describe('session store (Postgres)', () => {
  let db: AuthTestDatabase;

  before(async () => {
    db = await createAuthTestDatabase();
  });
  after(() => db?.close());

  const openSession = (userId = 1001n) => openTestSession(db, userId);
  const find = (token: string) => findRefreshToken(db.prisma, hashRefreshToken(token));
  // What AuthService.refresh does: spend the token and add its successor in one transaction.
  const rotate = (input: { tokenId: bigint; familyId: bigint; tokenHash: Uint8Array<ArrayBuffer>; now: Date }) =>
    withTransaction(db.prisma, async (tx) => {
      const successor = { id: db.ids.next(), tokenHash: input.tokenHash, expiresAt: future() };
      const spent = await spendRefreshToken(tx, { tokenId: input.tokenId, successorId: successor.id, now: input.now });
      if (spent) await insertRefreshToken(tx, input.familyId, successor);
      return spent;
    });
  const revoke = (familyId: bigint, reason: RevokeReason, userId?: bigint) =>
    withTransaction(db.prisma, (tx) =>
      revokeFamily(tx, { familyId, reason, now: new Date(), ...(userId !== undefined ? { userId } : {}) }),
    );

  it('stores only the hash and finds the token by it', async () => {
    const { token, familyId } = await openSession(1001n);
    const found = await find(token);
    assert.ok(found);
    assert.equal(found.familyId, familyId);
    assert.equal(found.userId, 1001n);
    assert.equal(found.usedAt, null);
    const rows = await db.prisma.$queryRaw<
      { n: bigint }[]
    >`SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = sha256(convert_to(${token}, 'UTF8'))`;
    assert.equal(rows[0]!.n, 1n, 'the row holds the SHA-256 of the token, as Postgres computes it');
    assert.equal(await find(generateRefreshToken()), null);
  });

  it('lets exactly one of many concurrent rotations of a token win', async () => {
    const { token, familyId } = await openSession();
    const stored = (await find(token))!;
    const successors = Array.from({ length: 10 }, generateRefreshToken);
    const results = await Promise.all(
      successors.map((next) =>
        rotate({ tokenId: stored.id, familyId, tokenHash: hashRefreshToken(next), now: new Date() }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = successors[results.indexOf(true)]!;
    const old = await db.prisma.refreshToken.findUniqueOrThrow({ where: { id: stored.id } });
    const next = await db.prisma.refreshToken.findUniqueOrThrow({ where: { tokenHash: hashRefreshToken(winner) } });
    assert.ok(old.usedAt);
    assert.equal(old.replacedBy, next.id, 'the chain links the spent token to its successor');
    assert.equal(await db.prisma.refreshToken.count({ where: { familyId } }), 2, 'losers added nothing');
  });

  it('does not rotate a token of a revoked family', async () => {
    const { token, familyId } = await openSession();
    const stored = (await find(token))!;
    await revoke(familyId, 'logout');
    assert.equal(
      await rotate({
        tokenId: stored.id,
        familyId,
        tokenHash: hashRefreshToken(generateRefreshToken()),
        now: new Date(),
      }),
      false,
    );
  });

  it('revokes a family and every token in it, once', async () => {
    const { token, familyId } = await openSession();
    const stored = (await find(token))!;
    const next = generateRefreshToken();
    assert.ok(await rotate({ tokenId: stored.id, familyId, tokenHash: hashRefreshToken(next), now: new Date() }));
    assert.equal(await revoke(familyId, 'reuse'), true);
    assert.equal(await revoke(familyId, 'logout'), false);
    const family = await db.prisma.refreshTokenFamily.findUniqueOrThrow({
      where: { id: familyId },
      include: { tokens: true },
    });
    assert.ok(family.revokedAt);
    assert.equal(family.revokedReason, 'reuse', 'the first reason stays');
    assert.equal(family.tokens.length, 2);
    assert.ok(family.tokens.every((t) => t.revokedAt));
    assert.ok((await find(next))!.familyRevokedAt);
  });

  it('revokes a family only for its own user when asked to check', async () => {
    const { familyId } = await openSession(2001n);
    await revoke(familyId, 'logout', 2002n);
    assert.equal((await db.prisma.refreshTokenFamily.findUniqueOrThrow({ where: { id: familyId } })).revokedAt, null);
    await revoke(familyId, 'logout', 2001n);
    assert.ok((await db.prisma.refreshTokenFamily.findUniqueOrThrow({ where: { id: familyId } })).revokedAt);
  });

  it("revokes every live family of a user inside the caller's transaction, and nobody else's", async () => {
    const a1 = await openSession(3001n);
    const a2 = await openSession(3001n);
    const b = await openSession(3002n);
    const revoked = await db.prisma.$transaction((tx) => revokeUserSessions(tx, 3001n, 'account_deleted'));
    assert.equal(revoked, 2);
    for (const { token } of [a1, a2]) {
      const found = (await find(token))!;
      assert.ok(found.familyRevokedAt && found.revokedAt);
    }
    const other = (await find(b.token))!;
    assert.equal(other.familyRevokedAt, null);
    assert.equal(
      await db.prisma.$transaction((tx) => revokeUserSessions(tx, 3001n, 'account_deleted')),
      0,
      'a second run changes nothing',
    );
  });

  it("leaves nothing behind when the caller's transaction rolls back", async () => {
    const { token } = await openSession(4001n);
    await assert.rejects(
      db.prisma.$transaction(async (tx) => {
        await revokeUserSessions(tx, 4001n, 'account_deleted');
        throw new Error('handler failed later');
      }),
      /handler failed later/,
    );
    assert.equal((await find(token))!.familyRevokedAt, null);
  });
});
