// Shared setup for auth's integration tests below the router: a throwaway auth database migrated exactly as
// start() does it, a Prisma client on it, and a Redis client confined to a unique key prefix.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createPrismaClient, databaseUrlFor, dropDatabase, migrateDatabase, SnowflakeGenerator } from '@mall/platform';
import { deleteKeys } from '@mall/platform/testing';
import { Redis } from 'ioredis';
import { PrismaClient } from '../data/generated/client.ts';
import type { AuthPrisma } from '../data/prisma.ts';
import { hashRefreshToken, insertFamily } from '../data/session-store.ts';
import { generateRefreshToken as generate } from '../domain/refresh-tokens.ts';

const SERVER_URL = process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';
const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/auth/migrations', import.meta.url));

export const uniqueSuffix = () => `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

export interface AuthTestDatabase {
  readonly url: string;
  readonly prisma: AuthPrisma;
  readonly ids: SnowflakeGenerator;
  close(): Promise<void>;
}

export async function createAuthTestDatabase(): Promise<AuthTestDatabase> {
  const url = databaseUrlFor(SERVER_URL, `test_auth_${uniqueSuffix()}`);
  try {
    await migrateDatabase({ databaseUrl: url, migrationsDir: MIGRATIONS_DIR });
  } catch (err) {
    await dropDatabase(url);
    throw err;
  }
  const prisma = createPrismaClient(PrismaClient, { url, poolSize: 12 });
  return {
    url,
    prisma,
    ids: new SnowflakeGenerator({ workerId: 1 }),
    async close() {
      await prisma.$disconnect();
      await dropDatabase(url);
    },
  };
}

export interface TestRedis {
  /** Keys are prefixed like the services' client. */
  readonly redis: Redis;
  readonly prefix: string;
  close(): Promise<void>;
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `test:auth:${uniqueSuffix()}:`;
  const redis = new Redis(REDIS_URL, { keyPrefix: prefix });
  return {
    redis,
    prefix,
    async close() {
      const raw = new Redis(REDIS_URL);
      try {
        await deleteKeys(raw, prefix);
      } finally {
        raw.disconnect();
        redis.disconnect();
      }
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
