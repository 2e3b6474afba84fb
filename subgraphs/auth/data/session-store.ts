import { decodeId, encodeId, type SnowflakeGenerator, withTransaction } from '@mall/platform';
import type { StoredRefreshToken } from '../domain/refresh-tokens.ts';
import type { RevokeReason, SessionStore } from '../service.ts';
import type { AuthPrisma, AuthTx } from './prisma.ts';

/** An id that did not come from us matches no row; decoding it never throws. */
const idOrNull = (id: string) => decodeId(id);

/**
 * Revokes every live family of a user and every token in them, inside the caller's transaction (the
 * user.deleted consumer's, so the effect commits together with its processed_events mark).
 */
export async function revokeUserSessions(
  tx: AuthTx,
  userId: string,
  reason: RevokeReason,
  now: Date = new Date(),
): Promise<number> {
  const user = idOrNull(userId);
  if (user === null) return 0;
  // Families before tokens, the same lock order as revokeFamily, so a logout racing this cannot deadlock.
  const { count } = await tx.refreshTokenFamily.updateMany({
    where: { userId: user, revokedAt: null },
    data: { revokedAt: now, revokedReason: reason },
  });
  await tx.refreshToken.updateMany({ where: { revokedAt: null, family: { userId: user } }, data: { revokedAt: now } });
  return count;
}

export class PrismaSessionStore implements SessionStore {
  readonly #prisma: AuthPrisma;
  readonly #ids: SnowflakeGenerator;

  constructor(prisma: AuthPrisma, ids: SnowflakeGenerator) {
    this.#prisma = prisma;
    this.#ids = ids;
  }

  async open(input: { userId: string; tokenHash: Uint8Array<ArrayBuffer>; expiresAt: Date }): Promise<string> {
    const userId = idOrNull(input.userId);
    if (userId === null) throw new Error(`user id ${input.userId} is not a snowflake`);
    const familyId = this.#ids.next();
    // A nested create: family and first token in one statement batch, one transaction.
    await this.#prisma.refreshTokenFamily.create({
      data: {
        id: familyId,
        userId,
        tokens: { create: { id: this.#ids.next(), tokenHash: input.tokenHash, expiresAt: input.expiresAt } },
      },
    });
    return encodeId(familyId);
  }

  async find(tokenHash: Uint8Array<ArrayBuffer>): Promise<StoredRefreshToken | null> {
    const row = await this.#prisma.refreshToken.findUnique({
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
    return {
      id: encodeId(row.id),
      familyId: encodeId(row.familyId),
      userId: encodeId(row.family.userId),
      expiresAt: row.expiresAt,
      usedAt: row.usedAt,
      revokedAt: row.revokedAt,
      familyRevokedAt: row.family.revokedAt,
    };
  }

  async rotate(input: {
    tokenId: string;
    familyId: string;
    tokenHash: Uint8Array<ArrayBuffer>;
    expiresAt: Date;
    now: Date;
  }): Promise<boolean> {
    const tokenId = idOrNull(input.tokenId);
    const familyId = idOrNull(input.familyId);
    if (tokenId === null || familyId === null) return false;
    const successor = this.#ids.next();
    return withTransaction(this.#prisma, async (tx) => {
      // The conditional update is the whole race guard: the row lock makes concurrent rotations of one token
      // queue, and each re-checks `used_at IS NULL` after the winner commits, so only one sees a match.
      const spent = await tx.refreshToken.updateMany({
        where: { id: tokenId, usedAt: null, revokedAt: null, family: { revokedAt: null } },
        data: { usedAt: input.now, replacedBy: successor },
      });
      if (spent.count !== 1) return false;
      await tx.refreshToken.create({
        data: { id: successor, familyId, tokenHash: input.tokenHash, expiresAt: input.expiresAt },
      });
      return true;
    });
  }

  async revokeFamily(familyIdText: string, reason: RevokeReason, options: { userId?: string } = {}): Promise<void> {
    const familyId = idOrNull(familyIdText);
    if (familyId === null) return;
    let userId: bigint | undefined;
    if (options.userId !== undefined) {
      const decoded = idOrNull(options.userId);
      if (decoded === null) return;
      userId = decoded;
    }
    const now = new Date();
    await withTransaction(this.#prisma, async (tx) => {
      const family = await tx.refreshTokenFamily.updateMany({
        where: { id: familyId, revokedAt: null, ...(userId !== undefined ? { userId } : {}) },
        data: { revokedAt: now, revokedReason: reason },
      });
      // Already revoked (or not this user's): its tokens were revoked with it.
      if (family.count === 0) return;
      await tx.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: now } });
    });
  }
}
