import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Config, ConfigError, type ConfigSection, loadConfig } from './config.ts';
import { resolveWorkerId, SnowflakeGenerator } from './ids/index.ts';
import { Lifecycle } from './lifecycle.ts';
import { createLogger, type Logger } from './logger.ts';
import { devSecret } from './secrets.ts';
import type { RunningService } from './subgraph.ts';

/** What a service needs from its surroundings; tests and `npm start` build one per stack, `main` per process. */
export interface ServiceDeps {
  readonly config: Config;
  readonly logger: Logger;
  /** Signs/verifies router → subgraph and service → service identity tokens. */
  readonly internalSecret: string;
  /** Shared connection, keys prefixed with MALL_REDIS_PREFIX. Owned by the caller: services don't quit it. */
  readonly redis: Redis;
}

export function resolveInternalSecret(config: Config): Promise<string> {
  return devSecret(config, 'internal-secret', config.secrets.internal, () => randomBytes(32).toString('base64url'));
}

export function createRedis(config: Config, logger: Logger): Redis {
  const redis = new Redis(config.redis.url, {
    keyPrefix: config.redis.prefix,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis error'));
  return redis;
}

/** The instance's id generator: worker id from MALL_WORKER_ID (required in production), random in development. */
export function createIdGenerator(config: Config): SnowflakeGenerator {
  return new SnowflakeGenerator({
    workerId: resolveWorkerId({ workerId: config.workerId, env: { NODE_ENV: config.nodeEnv } }).workerId,
  });
}

export async function createServiceDeps(config: Config, service: string, lifecycle: Lifecycle): Promise<ServiceDeps> {
  // Readable lines on a terminal, JSON for log collectors everywhere else.
  const logger = createLogger({ service, level: config.logLevel, pretty: Boolean(process.stdout.isTTY) });
  const redis = createRedis(config, logger);
  lifecycle.onStop('redis', async () => {
    await redis.quit();
  });
  return { config, logger, internalSecret: await resolveInternalSecret(config), redis };
}

/**
 * Entry point of a service run as its own process (`node subgraphs/user/index.ts`): config from the
 * environment, signals wired, and a non-zero exit when start-up fails.
 */
export async function runMain(
  service: string,
  start: (deps: ServiceDeps, lifecycle: Lifecycle) => Promise<RunningService>,
  sections: readonly ConfigSection<unknown>[] = [],
): Promise<void> {
  let config: Config;
  try {
    // The platform's variables and the service's own, validated together: one run shows every problem.
    config = loadConfig(process.env, sections);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(1);
  }
  const bootLogger = createLogger({ service, level: config.logLevel, pretty: Boolean(process.stdout.isTTY) });
  const lifecycle = new Lifecycle(bootLogger);
  lifecycle.installSignalHandlers();
  try {
    const deps = await createServiceDeps(config, service, lifecycle);
    const running = await start(deps, lifecycle);
    lifecycle.onStop(service, () => running.stop());
  } catch (err) {
    bootLogger.fatal({ err }, 'failed to start');
    await lifecycle.stop('startup failure');
    process.exit(1);
  }
}
