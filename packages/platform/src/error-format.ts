import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, isPublicCode } from './errors.ts';
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
    const badScalar = badScalarInput(formatted, error);
    if (badScalar) return badScalar;
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

// graphql-js words a variable its coercion refused as `Variable "$input" got invalid value "x" at
// "input.startsAt"; <the scalar's message>` (no `at` part when the variable itself is the scalar).
const VARIABLE_REFUSED = /^Variable "\$(\w+)" got invalid value [\s\S]*?(?: at "([^"]+)")?; ([\s\S]*)$/;

/**
 * A custom scalar (DateTime) refusing a value is the caller's mistake: BAD_USER_INPUT with the field named in
 * `problems`, like every other bad input. In a variable Apollo already says BAD_USER_INPUT (the field only in
 * its message); in a literal the scalar's error surfaces as GRAPHQL_VALIDATION_FAILED, though it is ours.
 */
function badScalarInput(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError | null {
  const code = formatted.extensions?.['code'];
  if (code === 'BAD_USER_INPUT' && !formatted.extensions?.['problems']) {
    const match = VARIABLE_REFUSED.exec(formatted.message);
    if (!match) return null;
    const [, variable, at, message] = match;
    const { stacktrace: _drop, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions: { ...extensions, problems: [{ field: at ?? variable, message }] } };
  }
  const cause = unwrapResolverError(error);
  const original = (cause as { originalError?: unknown } | null)?.originalError ?? cause;
  if (code === 'GRAPHQL_VALIDATION_FAILED' && original instanceof AppError && original.code === 'BAD_USER_INPUT') {
    const { stacktrace: _drop, http: _http, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions: { ...extensions, code: 'BAD_USER_INPUT' } };
  }
  return null;
}
