// Shared setup for auth's integration tests below the router: a throwaway auth database migrated exactly as
// the kit does it, with a Prisma client on it (Redis: the platform's `createTestRedis`).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createPrismaClient, SnowflakeGenerator } from '@mall/platform';
import { createTestDatabase } from '@mall/platform/testing';
import { PrismaClient } from '../data/generated/client.ts';
import type { AuthPrisma } from '../data/prisma.ts';
import { hashRefreshToken, insertFamily } from '../data/session-store.ts';
import { generateRefreshToken as generate } from '../domain/refresh-tokens.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/auth/migrations', import.meta.url));

export interface AuthTestDatabase {
  readonly url: string;
  readonly prisma: AuthPrisma;
  readonly ids: SnowflakeGenerator;
  close(): Promise<void>;
}

/** A throwaway auth database (the platform's `createTestDatabase`) with a Prisma client and an id generator. */
export async function createAuthTestDatabase(): Promise<AuthTestDatabase> {
  const db = await createTestDatabase('test_auth', { migrationsDir: MIGRATIONS_DIR });
  const prisma = createPrismaClient(PrismaClient, { url: db.url, poolSize: 12 });
  return {
    url: db.url,
    prisma,
    ids: new SnowflakeGenerator({ workerId: 1 }),
    async close() {
      await prisma.$disconnect();
      await db.drop();
    },
  };
}

export const generateRefreshToken = () => generate(randomBytes);

/** Opens a session for `userId` straight in the database, an hour long; returns its token and family id. */
export async function openTestSession(
  db: AuthTestDatabase,
  userId: bigint,
): Promise<{ token: string; familyId: bigint }> {
  const token = generateRefreshToken();
  const familyId = db.ids.next();
  await insertFamily(db.prisma, {
    id: familyId,
    userId,
    firstToken: { id: db.ids.next(), tokenHash: hashRefreshToken(token), expiresAt: new Date(Date.now() + 3600_000) },
  });
  return { token, familyId };
}
