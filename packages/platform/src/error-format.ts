import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { isPublicCode } from './errors.ts';
import { isTransientFault, throttled, unavailable } from './faults.ts';

interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Apollo `formatError` for every server we run: public codes pass with their message, anything else is
 * logged with its stack and replaced by a generic error, so no internal message or trace leaves. A dependency
 * out of reach (see isTransientFault) becomes the retryable UNAVAILABLE instead.
 */
export function createErrorFormatter(logger: Logger) {
  const outageLog = throttled();
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    if (isPublicCode(code)) {
      const { stacktrace: _drop, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const cause = unwrapResolverError(error);
    if (isTransientFault(cause)) {
      // Redis, Postgres or a peer is out of reach: the caller may retry; the driver's words stay in our log.
      outageLog((suppressed) =>
        logger.warn({ err: cause, path: formatted.path, suppressed }, 'dependency unavailable'),
      );
      const answer = unavailable();
      return {
        message: answer.message,
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { ...answer.extensions },
      };
    }
    logger.error({ err: cause, path: formatted.path }, 'unexpected error');
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
