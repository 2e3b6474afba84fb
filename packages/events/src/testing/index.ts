import { lstat, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The canonical snippet and its DDL, for domains' tests and migrations. */
export const OUTBOX_PRISMA_PATH = fileURLToPath(new URL('../../prisma/events.prisma', import.meta.url));
export const OUTBOX_SQL_PATH = fileURLToPath(new URL('../../prisma/events.sql', import.meta.url));

/**
 * Fails unless `<schemaDir>/events.prisma` is a symbolic link to packages/events/prisma/events.prisma, so no
 * domain drifts from the columns the writer, relay and consumer rely on.
 */
export async function assertOutboxSnippet(schemaDir: string | URL): Promise<void> {
  const dir = schemaDir instanceof URL ? fileURLToPath(schemaDir) : schemaDir;
  const linkPath = join(dir, 'events.prisma');
  const stat = await lstat(linkPath).catch(() => undefined);
  const fix = `ln -sf ${relative(dir, OUTBOX_PRISMA_PATH)} ${linkPath}`;
  if (!stat) throw new Error(`${linkPath} is missing: ${fix}`);
  if (!stat.isSymbolicLink() || (await realpath(linkPath)) !== (await realpath(OUTBOX_PRISMA_PATH)))
    throw new Error(`${linkPath} must be a link to the canonical snippet: ${fix}`);
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/** Polls `predicate` until it returns a truthy value (which is returned) or the deadline passes. */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const interval = options.intervalMs ?? 25;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `waitFor timed out after ${options.timeoutMs ?? 10_000} ms${options.what ? `: ${options.what}` : ''}`,
        { cause: lastError },
      );
    }
    await delay(interval);
  }
}

export interface TestBroker {
  brokers: string[];
  close(): Promise<void>;
}

interface BrokerModule {
  startBroker(options: { port: number; dataDir: string }): Promise<{ brokers: string; close(): Promise<void> }>;
}

/**
 * The embedded broker on a free port in a fresh temp dir (removed on close). With KAFKA_BROKERS set,
 * tests run against that cluster instead and close() leaves it alone.
 */
export async function startTestBroker(): Promise<TestBroker> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) return { brokers: external.split(','), close: async () => {} };
  // Imported lazily so a test run against a real cluster never loads the embedded broker.
  const specifier = '@mall/kafka-broker';
  const { startBroker } = (await import(specifier)) as BrokerModule;
  const dataDir = await mkdtemp(join(tmpdir(), 'mall-broker-'));
  try {
    const broker = await startBroker({ port: 0, dataDir });
    return {
      brokers: broker.brokers.split(','),
      close: async () => {
        await broker.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
