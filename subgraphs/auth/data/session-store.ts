import { createHash } from 'node:crypto';
import type { StoredRefreshToken } from '../domain/refresh-tokens.ts';
import type { AuthDb, AuthTx } from './prisma.ts';

export type RevokeReason = 'logout' | 'reuse' | 'account_deleted';

/** Only this digest is stored, so a database leak hands out no usable token. */
export function hashRefreshToken(token: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(token, 'utf8').digest());
}

export interface NewRefreshToken {
  readonly id: bigint;
  readonly tokenHash: Uint8Array<ArrayBuffer>;
  readonly expiresAt: Date;
}

/** Starts a family (one sign-in session) with its first refresh token: one nested insert, atomic on its own. */
export async function insertFamily(
  db: AuthDb,
  family: { id: bigint; userId: bigint; firstToken: NewRefreshToken },
): Promise<void> {
  await db.refreshTokenFamily.create({
    data: { id: family.id, userId: family.userId, tokens: { create: family.firstToken } },
  });
}

export async function findRefreshToken(
  db: AuthDb,
  tokenHash: Uint8Array<ArrayBuffer>,
): Promise<StoredRefreshToken | null> {
  const row = await db.refreshToken.findUnique({
    where: { tokenHash },
    select: {
      id: true,
      familyId: true,
      expiresAt: true,
      usedAt: true,
      revokedAt: true,
      family: { select: { userId: true, revokedAt: true } },
    },
  });
  if (!row) return null;
  const { family, ...token } = row;
  return { ...token, userId: family.userId, familyRevokedAt: family.revokedAt };
}

/**
 * Marks the token spent, pointing at its successor, only if it is still unspent and unrevoked (its family
 * too); false when it was not. This conditional UPDATE is the whole race guard: the row lock makes concurrent
 * rotations of one token queue, and each re-checks `used_at IS NULL` after the winner commits, so exactly one
 * sees a match. A stock reservation is the same shape (`UPDATE … WHERE available >= n`).
 */
export async function spendRefreshToken(
  tx: AuthTx,
  spend: { tokenId: bigint; successorId: bigint; now: Date },
): Promise<boolean> {
  const spent = await tx.refreshToken.updateMany({
    where: { id: spend.tokenId, usedAt: null, revokedAt: null, family: { revokedAt: null } },
    data: { usedAt: spend.now, replacedBy: spend.successorId },
  });
  return spent.count === 1;
}

export async function insertRefreshToken(tx: AuthTx, familyId: bigint, token: NewRefreshToken): Promise<void> {
  await tx.refreshToken.create({ data: { ...token, familyId } });
}

/**
 * Revokes the family and every token in it; with `userId`, only if the family is that user's. False when
 * nothing changed (already revoked, or another user's). Family before tokens: the lock order every
 * revocation keeps, so two of them racing cannot deadlock.
 */
export async function revokeFamily(
  tx: AuthTx,
  revoke: { familyId: bigint; reason: RevokeReason; now: Date; userId?: bigint },
): Promise<boolean> {
  const { familyId, reason, now, userId } = revoke;
  const family = await tx.refreshTokenFamily.updateMany({
    where: { id: familyId, revokedAt: null, ...(userId !== undefined ? { userId } : {}) },
    data: { revokedAt: now, revokedReason: reason },
  });
  // Already revoked (or not this user's): its tokens were revoked with it.
  if (family.count === 0) return false;
  await tx.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: now } });
  return true;
}

/**
 * Revokes every live family of a user and every token in them, inside the caller's transaction (the
 * user.deleted consumer's, so the effect commits together with its processed_events mark). Returns how
 * many families it revoked.
 */
export async function revokeUserSessions(
  tx: AuthTx,
  userId: bigint,
  reason: RevokeReason,
  now: Date = new Date(),
): Promise<number> {
  // Families before tokens, the same lock order as revokeFamily, so a logout racing this cannot deadlock.
  const { count } = await tx.refreshTokenFamily.updateMany({
    where: { userId, revokedAt: null },
    data: { revokedAt: now, revokedReason: reason },
  });
  await tx.refreshToken.updateMany({ where: { revokedAt: null, family: { userId } }, data: { revokedAt: now } });
  return count;
}
