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
