import { AppError } from './errors.ts';

/**
 * How long a client is told to wait before retrying a request that failed because Redis, Postgres or a peer
 * service was out of reach. Short: the dependencies reconnect within a second or two of coming back.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/** The public, retryable answer to a request that needed a dependency that is out of reach right now. */
export const unavailable = (message = 'Service temporarily unavailable; retry shortly') =>
  new AppError('UNAVAILABLE', message, { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS });

// Socket-level failures: the dependency is down, restarting or cut off, never the request's fault.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// Prisma's codes for "the database is out of reach": cannot reach / timed out / closed the connection /
// pool acquire timed out / transaction expired or was closed under us.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);

// What ioredis says when it will not (or could not) send a command: no connection and no offline queue,
// the command time-out, or the connection dropped with the command in flight. Redis's own replies while it
// starts up or fails over (LOADING, MASTERDOWN, READONLY, TRYAGAIN) are transient too.
const TRANSIENT_MESSAGES = [
  /Stream isn't writeable/,
  /^Command timed out$/,
  /^Connection is closed\.?$/,
  /Reached the max retries per request limit/,
  /^(LOADING|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN)\b/,
  // pg and its pool, through Prisma's driver adapter.
  /timeout exceeded when trying to connect/i,
  /Connection terminated/i,
  /Client has encountered a connection error/i,
  /terminating connection due to administrator command/i,
  /the database system is (starting up|shutting down)/i,
  /Transaction already closed|Transaction not found|expired transaction/i,
];

const TRANSIENT_NAMES = new Set(['MaxRetriesPerRequestError', 'TimeoutError', 'AbortError']);

function property(err: object, key: string): unknown {
  return Reflect.get(err, key);
}

/**
 * True when `err` (or anything in its `cause` chain) says an infrastructure dependency (Redis, Postgres, a
 * peer over HTTP) was out of reach or too slow: retrying later can succeed, and the request itself was fine.
 * Consumers retry these without spending their poison budget; resolvers answer them as UNAVAILABLE.
 */
export function isTransientFault(err: unknown): boolean {
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if (current instanceof AppError) return current.code === 'UNAVAILABLE';
    const code = property(current, 'code');
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || PRISMA_CODES.has(code))) return true;
    const name = property(current, 'name');
    if (typeof name === 'string' && TRANSIENT_NAMES.has(name)) return true;
    const message = property(current, 'message');
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((pattern) => pattern.test(message))) return true;
    // `fetch failed` carries the socket error as its cause; Prisma's adapter errors carry the driver's.
    current = property(current, 'cause');
  }
  return false;
}

/**
 * Runs `log` at most once per `intervalMs`, passing how many calls were skipped since: during an outage every
 * request fails the same way, and one line a few seconds tells an operator as much as a thousand.
 */
export function throttled(intervalMs = 5_000): (log: (suppressed: number) => void) => void {
  let last = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (log) => {
    const now = performance.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    log(suppressed);
    suppressed = 0;
  };
}
