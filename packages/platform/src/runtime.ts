import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Config, ConfigError, type ConfigSection, loadConfig } from './config.ts';
import { resolveWorkerId, SnowflakeGenerator } from './ids/index.ts';
import { Lifecycle } from './lifecycle.ts';
import { createLogger, type Logger } from './logger.ts';
import { devSecret } from './secrets.ts';
import type { RunningService } from './subgraph.ts';
import { startTracingFromConfig, tracingConfig } from './tracing.ts';

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

/**
 * Bounds on every wait for Redis. A command gets an answer or an error within REDIS_COMMAND_TIMEOUT_MS, so a
 * request that needs Redis fails fast (UNAVAILABLE) instead of hanging while Redis is away; a reconnect is
 * tried at least every REDIS_MAX_RECONNECT_DELAY_MS, so service resumes within about a second of its return.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
export const REDIS_CONNECT_TIMEOUT_MS = 1_000;
export const REDIS_MAX_RECONNECT_DELAY_MS = 500;

export interface RedisClientOptions {
  /**
   * ioredis auto-pipelining: the commands issued until the event loop's next check phase (setImmediate) go out
   * as one pipeline, one socket write, whichever requests issued them. For a hot path that sends one command
   * per request under a crowd: every write to Redis also wakes it, and on this project's 2-core VM that write
   * was 12 % of the flash-sale subgraph's CPU (bench/profiles/flashsale.md). A dedicated client, so nothing
   * else waits for the check phase. Every script it runs must be registered before its first command
   * (`RedisScript.prepare`): a pipeline copies the client's scripts when it is made, and a script defined
   * after that, in the same tick, is missing from it: ioredis then throws `pipeline[name] is not a function`
   * and breaks the batch's callbacks (`results[i] is not iterable`, ioredis issue #1931, which crashed the
   * process when the flash-sale store first tried this with its scripts defined on first use).
   */
  readonly autoPipelining?: boolean;
}

/**
 * The services' Redis client. Until the first connection is up, commands wait in the offline queue (start-up
 * order does not matter, and the command time-out still bounds each wait); from then on there is no offline
 * queue: while Redis is unreachable a command fails at once rather than piling up and hitting Redis all
 * together when it returns, and commands in flight when the connection drops fail rather than being resent.
 */
export function createRedis(config: Config, logger: Logger, options: RedisClientOptions = {}): Redis {
  const redis = new Redis(config.redis.url, {
    enableAutoPipelining: options.autoPipelining ?? false,
    keyPrefix: config.redis.prefix,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, REDIS_MAX_RECONNECT_DELAY_MS),
    lazyConnect: false,
  });
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
  });
  // One line per outage, not one per reconnect attempt: the reconnect loop runs every half second.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message }, 'redis unreachable; commands fail until it is back');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis reachable again');
    down = false;
  });
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
    config = loadConfig(process.env, [tracingConfig, ...sections]);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(1);
  }
  const bootLogger = createLogger({ service, level: config.logLevel, pretty: Boolean(process.stdout.isTTY) });
  const lifecycle = new Lifecycle(bootLogger);
  lifecycle.installSignalHandlers();
  try {
    // First, so every server and consumer created below picks up the tracer; stopped last, after they drained.
    const tracing = await startTracingFromConfig(config, service);
    if (tracing) lifecycle.onStop('tracing', () => tracing.shutdown());
    const deps = await createServiceDeps(config, service, lifecycle);
    const running = await start(deps, lifecycle);
    lifecycle.onStop(service, () => running.stop());
  } catch (err) {
    bootLogger.fatal({ err }, 'failed to start');
    await lifecycle.stop('startup failure');
    process.exit(1);
  }
}
