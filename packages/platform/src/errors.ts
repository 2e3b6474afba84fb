import { GraphQLError } from 'graphql';

/** The `extensions.code`s the public contract promises; anything else leaves the router as INTERNAL_SERVER_ERROR. */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'OUT_OF_STOCK',
  'INVALID_STATE',
  'RATE_LIMITED',
  'PERSISTED_QUERY_NOT_FOUND',
  // A dependency (Redis, Postgres, a peer) is out of reach: retry after `retryAfterSeconds`. Never a 500.
  'UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Apollo Server's own codes for requests it rejects before any resolver runs; safe to show as they are. */
const APOLLO_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

const PUBLIC_CODES = new Set<string>([...ERROR_CODES, ...APOLLO_CODES]);

export function isPublicCode(code: unknown): code is string {
  return typeof code === 'string' && PUBLIC_CODES.has(code);
}

/**
 * A failure the caller caused or may act on. Thrown from resolvers and domain services; its message and
 * extensions are meant for clients. Everything else is a fault and gets masked.
 */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.name = 'AppError';
    this.code = code;
  }
}

export const unauthenticated = (message = 'Authentication required') => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, extensions?: Record<string, unknown>) =>
  new AppError('CONFLICT', message, extensions);
export const invalidState = (message: string, extensions?: Record<string, unknown>) =>
  new AppError('INVALID_STATE', message, extensions);
export const rateLimited = (retryAfterSeconds: number) =>
  new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfterSeconds}s`, { retryAfterSeconds });

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export const badUserInput = (message: string, problems: readonly FieldProblem[] = []) =>
  new AppError('BAD_USER_INPUT', message, problems.length ? { problems } : {});

/** Turns zod issues into one BAD_USER_INPUT that lists every offending field. */
export function fromZodIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): AppError {
  const problems = issues.map((i) => ({ field: i.path.map(String).join('.') || 'input', message: i.message }));
  const summary = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return badUserInput(`Invalid input: ${summary}`, problems);
}
