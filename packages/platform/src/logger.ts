import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/** Headers and fields that must never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["mall-identity"]',
  'headers.authorization',
  'headers["mall-identity"]',
  '*.password',
  '*.refreshToken',
  '*.accessToken',
  'password',
];

/**
 * `service` names the process's service; leave it out for a root logger whose children each name their own
 * (pino would otherwise print the key twice).
 */
export function createLogger(
  options: { service?: string; level: string; pretty?: boolean } & Pick<LoggerOptions, 'base'>,
): Logger {
  return pino({
    level: options.level,
    base: { ...(options.service ? { service: options.service } : {}), ...options.base },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}

/**
 * `parent.child(bindings)`, made only when something first touches it. A subgraph hands every request a
 * logger carrying its request id and caller, but almost no request logs: pino's `child` (new formatters, the
 * bindings serialised) was ~1 % of a subgraph request's CPU, spent on loggers nobody used. A Proxy rather
 * than a getter on the request scope, because every subgraph's context spreads that scope (`{ ...base }`),
 * which would call a getter at once. Reads, writes and `in` go to the child; its methods come bound to it.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const real = (): Logger => {
    child ??= parent.child(bindings);
    return child;
  };
  return new Proxy(parent, {
    get(_parent, key) {
      const logger = real();
      const value: unknown = Reflect.get(logger, key, logger);
      return typeof value === 'function' ? value.bind(logger) : value;
    },
    set: (_parent, key, value) => Reflect.set(real(), key, value),
    has: (_parent, key) => Reflect.has(real(), key),
  });
}
