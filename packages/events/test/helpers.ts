// Shared setup for the integration tests: a throwaway database with the outbox DDL plus a fake domain's
// effect table, and a Prisma client generated from test/fixtures/prisma (the canonical snippet + Effect).
import { execFile } from 'node:child_process';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@mall/platform/testing';
import type { Kafka, Producer } from 'kafkajs';
import { pino } from 'pino';
import { type ConsumerTx, createKafka, createProducer, ensureTopics, type OutboxTx } from '../src/index.ts';
import { OUTBOX_SQL_PATH, startTestBroker } from '../src/testing/index.ts';

const SCHEMA_DIR = fileURLToPath(new URL('./fixtures/prisma/', import.meta.url));
const GENERATED_CLIENT = `${SCHEMA_DIR}generated/client.ts`;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const EFFECT_SQL = `CREATE TABLE "effect" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "event_id" TEXT NOT NULL,
  "note" TEXT NOT NULL,
  "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
)`;

/** The fixture client's surface the tests use (the generated types are not checked in). */
export interface FixtureTx extends OutboxTx, ConsumerTx {
  effect: { create(args: { data: { id: string; eventId: string; note: string } }): Promise<unknown> };
}
export interface FixturePrisma {
  $transaction<R>(fn: (tx: FixtureTx) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
  effect: {
    count(args?: { where?: { eventId?: string; note?: string } }): Promise<number>;
    findMany(args?: {
      orderBy?: { createdAt: 'asc' | 'desc' };
    }): Promise<{ id: string; eventId: string; note: string }[]>;
  };
  $disconnect(): Promise<void>;
}

async function newestMtime(paths: string[]): Promise<number> {
  const stats = await Promise.all(paths.map((p) => stat(p)));
  return Math.max(...stats.map((s) => s.mtimeMs));
}

/** Generates the fixture client if it is missing or older than its schema; a lock file serialises test files. */
async function generateFixtureClient(): Promise<void> {
  const schemaFiles = [`${SCHEMA_DIR}schema.prisma`, `${SCHEMA_DIR}events.prisma`];
  const lockPath = `${SCHEMA_DIR}.generate.lock`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const lock = await open(lockPath, 'wx');
      await lock.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw err;
      await delay(50);
    }
  }
  try {
    const upToDate = await stat(GENERATED_CLIENT).then(
      async (s) => s.mtimeMs >= (await newestMtime(schemaFiles)),
      () => false,
    );
    if (upToDate) return;
    // No engines are downloaded offline: prisma-client (query compiler, wasm) needs none, so any file will do.
    const env = {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
      PRISMA_QUERY_ENGINE_LIBRARY: process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    };
    await promisify(execFile)(
      process.execPath,
      [`${REPO_ROOT}node_modules/prisma/build/index.js`, 'generate', '--schema', SCHEMA_DIR],
      { env, cwd: REPO_ROOT },
    );
  } finally {
    await rm(lockPath, { force: true });
  }
}

export interface FixtureDomain {
  db: TestDatabase;
  prisma: FixturePrisma;
  close(): Promise<void>;
}

export async function createFixtureDomain(): Promise<FixtureDomain> {
  await generateFixtureClient();
  const db = await createTestDatabase('test_events', { sql: [await readFile(OUTBOX_SQL_PATH, 'utf8'), EFFECT_SQL] });
  const specifier = GENERATED_CLIENT;
  const { PrismaClient } = (await import(specifier)) as {
    PrismaClient: new (options: { adapter: unknown }) => FixturePrisma;
  };
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) });
  return {
    db,
    prisma,
    async close() {
      await prisma.$disconnect();
      await db.drop();
    },
  };
}

export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/**
 * What an end-to-end events test runs on: the embedded broker with every registry topic, a connected
 * idempotent producer, the fixture domain, and cleanups the test registers (relays, consumers) that run first
 * on close.
 */
export interface EventsHarness {
  kafka: Kafka;
  producer: Producer;
  domain: FixtureDomain;
  cleanups: (() => Promise<void>)[];
  close(): Promise<void>;
}

export async function startEventsHarness(clientId: string): Promise<EventsHarness> {
  const broker = await startTestBroker();
  const kafka = createKafka({ brokers: broker.brokers, clientId, logger: testLogger });
  await ensureTopics(kafka);
  const producer = createProducer(kafka);
  await producer.connect();
  const domain = await createFixtureDomain();
  const cleanups: (() => Promise<void>)[] = [];
  return {
    kafka,
    producer,
    domain,
    cleanups,
    async close() {
      await Promise.all(
        cleanups.map((cleanup) => cleanup().catch((err) => testLogger.error({ err }, 'cleanup failed'))),
      );
      await producer.disconnect();
      await domain.close();
      await broker.close();
    },
  };
}
