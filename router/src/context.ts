import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import {
  type Config,
  configSection,
  IDENTITY_HEADER,
  type Logger,
  rateLimited,
  throttled,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
  unauthenticated,
  unavailable,
} from '@mall/platform';
import type { GraphQLFormattedError } from 'graphql';
import { AuthFailure, type Caller, CONFIRMED, type JwtVerifier } from './auth.ts';
import { routerConfig } from './config.ts';
import { LIMITS, type RateLimitDecision, type RateLimiter, rateLimitSubject } from './limits.ts';
import type { RouterMetrics } from './metrics.ts';

/** What every GraphQL operation through the router carries; the gateway's data sources sign from it. */
export interface RouterContext {
  readonly requestId: string;
  readonly clientIp: string;
  /** The verified caller, or null for an anonymous request. */
  readonly caller: Caller | null;
  readonly logger: Logger;
  /** Fires when the request has used up its time; subgraph fetches still in flight are aborted. */
  readonly deadline: AbortSignal;
  /**
   * Settles once the caller is confirmed: the revocation lookup and the per-user limit passed (resolves), or
   * not (rejects with the Rejection to answer). Until then `caller` is only what a validly signed token
   * claims: the data sources wait for it before they sign anything in the caller's name, so no subgraph
   * hears of a revoked token, and the HTTP server waits for it before it answers.
   */
  readonly confirmed: Promise<void>;
  /**
   * A fetch the passthrough already made for this request and left to the full path to answer (an answer it
   * does not pass through as it is, or a failure): the gateway's data source takes it instead of sending the
   * same fetch again, so each fetch, a mutation's above all, goes out once.
   */
  prefetched?: Prefetched | undefined;
}

/** The passthrough's fetch of a request: its subgraph and text, and its answer (with its parse) or failure. */
export type Prefetched = {
  readonly subgraph: string;
  readonly query: string;
  readonly operationType: 'query' | 'mutation';
} & (
  | { readonly answer: { readonly status: number; readonly text: string }; readonly parsed?: object }
  | { readonly error: unknown }
);

/** Shared with the subgraphs, which take the request id the router passes on. */
export { requestIdFrom } from '@mall/platform';

/**
 * Headers only the router may set. A client that sends one gets it dropped at the door, so nothing later
 * (logs, proxies, a handler that forwards headers by mistake) can mistake it for ours.
 */
const INTERNAL_HEADERS = [IDENTITY_HEADER] as const;

export function stripInternalHeaders(req: IncomingMessage): void {
  for (const name of INTERNAL_HEADERS) delete req.headers[name];
}

/** Decides whether the peer at `address` is a proxy whose `X-Forwarded-For` we believe. */
export type TrustProxy = (address: string) => boolean;

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports) is the IPv4 address. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address.toLowerCase();
}

/**
 * `TRUST_PROXY`: `loopback` (default), `false`, or a comma list of IPs, CIDRs and `loopback`. Anything else
 * fails at start-up, so a typo cannot silently trust every client's `X-Forwarded-For`.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const spec = value.trim().toLowerCase();
  if (spec === '' || spec === 'false' || spec === 'none') return () => false;
  const trusted = new BlockList();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === 'loopback') {
      trusted.addSubnet('127.0.0.0', 8, 'ipv4');
      trusted.addAddress('::1', 'ipv6');
      continue;
    }
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new Error(`TRUST_PROXY: "${entry}" is not an IP address, CIDR or "loopback"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      trusted.addAddress(address, type);
      continue;
    }
    const bits = Number(prefix);
    if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128))
      throw new Error(`TRUST_PROXY: "${entry}" has an invalid prefix length`);
    trusted.addSubnet(address, bits, type);
  }
  return (address) => {
    const ip = normalizeIp(address);
    const family = isIP(ip);
    return family !== 0 && trusted.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * The client's address: walk `X-Forwarded-For` from the right (the entry our nearest proxy appended) for as
 * long as the hop that told us is trusted. Entries left of the first untrusted hop are the client's own
 * claims and are ignored, so a client cannot pick its rate-limit bucket by sending the header itself.
 */
export function clientIpOf(
  remoteAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trust: TrustProxy,
): string {
  let ip = normalizeIp(remoteAddress ?? '');
  const header = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor?.join(',');
  if (!header) return ip;
  const hops = header
    .split(',')
    .map((hop) => hop.trim())
    .reverse();
  for (const hop of hops) {
    if (!trust(ip)) break;
    const candidate = normalizeIp(hop);
    if (isIP(candidate) === 0) break;
    ip = candidate;
  }
  return ip;
}

/** A request turned away before GraphQL runs: the status, the one GraphQL error of its body, extra headers. */
export class Rejection extends Error {
  readonly status: number;
  readonly error: GraphQLFormattedError;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, error: GraphQLFormattedError, headers: Record<string, string> = {}) {
    super(error.message);
    this.name = 'Rejection';
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

const asFormatted = (error: { message: string; extensions: Record<string, unknown> }): GraphQLFormattedError => ({
  message: error.message,
  extensions: { ...error.extensions },
});

export interface AdmissionDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly verifier: Pick<JwtVerifier, 'authenticateStaged'>;
  readonly limiter: Pick<RateLimiter, 'hit' | 'blocked'>;
  readonly metrics: RouterMetrics;
}

/**
 * Decides whether a request gets in, and as whom. Returns its RouterContext or throws a Rejection.
 * Taken apart from HTTP so the WebSocket server (subscriptions) admits its `connection_init` the same way.
 */
/**
 * A request's deadline as an AbortSignal whose timer is cleared when the request ends (`endRequest`).
 * `AbortSignal.timeout` cannot be cancelled: every request would fire its timer, build a TimeoutError and
 * dispatch an abort event 15 s after it was long answered.
 */
const deadlineTimers = new WeakMap<AbortSignal, NodeJS.Timeout>();

export function requestDeadline(ms: number = LIMITS.requestTimeoutMs): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('request deadline passed', 'TimeoutError')), ms);
  timer.unref();
  deadlineTimers.set(controller.signal, timer);
  return controller.signal;
}

/** The request is answered: its deadline will not be needed. */
export function endRequest(context: Pick<RouterContext, 'deadline'>): void {
  clearTimeout(deadlineTimers.get(context.deadline));
}

/** Admits a request fully: the returned context's caller is confirmed (its `confirmed` has resolved). */
export type Admit = (req: IncomingMessage, requestId: string, authorization?: string) => Promise<RouterContext>;

/**
 * Admits a request as far as the token's signature: the per-IP limit and the signature have passed, the
 * revocation lookup and the per-user limit are still under way (`context.confirmed`). Lets the router parse,
 * validate and plan the operation while Redis answers, instead of one after the other.
 */
export type AdmitStaged = (req: IncomingMessage, requestId: string) => Promise<RouterContext>;

export interface Admission {
  readonly admit: Admit;
  readonly admitStaged: AdmitStaged;
}

export function createAdmission(deps: AdmissionDeps): Admission {
  const { config, logger, verifier, limiter, metrics } = deps;
  const trust = parseTrustProxy(configSection(config, routerConfig).trustProxy);
  // While Redis or auth's key set is away every request fails the same way: a line every few seconds is enough.
  const limiterLog = throttled();
  const verifierLog = throttled();

  const refuseOverLimit = (scope: 'ip' | 'user', decision: RateLimitDecision): Rejection => {
    metrics.rateLimited.inc({ scope });
    return new Rejection(429, asFormatted(rateLimited(decision.retryAfterSeconds)), {
      'retry-after': String(decision.retryAfterSeconds),
    });
  };

  /** Counts the request against a bucket; settles once Redis answered, rejecting with a 429 Rejection if over. */
  const enforce = (scope: 'ip' | 'user', bucket: string, limit: number): Promise<void> => {
    if (limit <= 0) return CONFIRMED;
    return limiter.hit(bucket, limit).then(
      (decision) => {
        if (decision && !decision.allowed) throw refuseOverLimit(scope, decision);
      },
      (err: unknown) => {
        // The limiter protects capacity; a Redis hiccup should not turn into an outage for everyone.
        limiterLog((suppressed) =>
          logger.warn({ err, scope, suppressed }, 'rate limiter unavailable; admitting the request'),
        );
      },
    );
  };

  /** The answer to a token that did not pass: the Rejection to throw (an unexpected error stays as it is). */
  const refusal = (err: unknown): unknown => {
    if (err instanceof Rejection) return err;
    if (err instanceof AuthFailure) {
      metrics.authFailures.inc({ reason: err.reason });
      logger.debug({ reason: err.reason, detail: err.message }, 'access token refused');
      const message = err.reason === 'expired' ? 'Access token expired' : 'Invalid access token';
      return new Rejection(401, asFormatted(unauthenticated(message)), {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
    // Auth's key set or the denylist is out of reach: refuse for now rather than trust an unchecked token.
    verifierLog((suppressed) => logger.warn({ err, suppressed }, 'cannot verify access tokens'));
    return new Rejection(503, asFormatted(unavailable()), {
      'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
    });
  };

  const admitStaged = async (
    req: IncomingMessage,
    requestId: string,
    authorization = firstHeader(req.headers.authorization),
  ): Promise<RouterContext> => {
    stripInternalHeaders(req);
    const clientIp = clientIpOf(req.socket.remoteAddress, req.headers['x-forwarded-for'], trust);
    const ipBucket = `ip:${rateLimitSubject(clientIp)}`;
    // An address this router already saw refused is refused at once: a flood costs neither Redis nor a token check.
    const blocked = limiter.blocked(ipBucket, config.rateLimit.ipPerMinute);
    if (blocked) throw refuseOverLimit('ip', blocked);
    // Per IP before the token is checked, so a flood of bad tokens is counted like any other flood; the count
    // is sent now and its answer joins `confirmed`, with the user limit (sent once the signature holds) and the
    // revocation lookup: one Redis round trip's wait in all, overlapping the operation's parse and plan.
    const ipChecked = enforce('ip', ipBucket, config.rateLimit.ipPerMinute);
    ipChecked.catch(() => undefined); // awaited below on every path; this only keeps an early refusal handled
    let staged: Awaited<ReturnType<typeof verifier.authenticateStaged>>;
    try {
      staged = await verifier.authenticateStaged(authorization, (userId) =>
        enforce('user', `user:${userId}`, config.rateLimit.userPerMinute),
      );
    } catch (err) {
      // An address over its limit hears that before whether its token is any good.
      await ipChecked;
      throw refusal(err);
    }
    const { caller } = staged;
    const confirmed =
      staged.confirmed === CONFIRMED
        ? ipChecked
        : Promise.allSettled([ipChecked, staged.confirmed]).then(([ip, checks]) => {
            if (ip.status === 'rejected') throw ip.reason;
            if (checks.status === 'rejected') throw refusal(checks.reason);
          });
    // Whoever holds the context awaits `confirmed`; this keeps a refusal that lands before they do from
    // counting as an unhandled rejection.
    confirmed.catch(() => undefined);
    let requestLogger: Logger | undefined;
    return {
      requestId,
      clientIp,
      caller,
      // Made on first use: most requests never log, and a pino child serialises its bindings up front.
      get logger() {
        requestLogger ??= logger.child({ requestId, ...(caller ? { userId: caller.userId } : {}) });
        return requestLogger;
      },
      deadline: requestDeadline(),
      confirmed,
      prefetched: undefined,
    };
  };

  const admit: Admit = async (req, requestId, authorization) => {
    const context = await admitStaged(req, requestId, authorization);
    try {
      await context.confirmed;
    } catch (err) {
      endRequest(context);
      throw err;
    }
    return context;
  };

  return { admit, admitStaged: (req, requestId) => admitStaged(req, requestId) };
}

function firstHeader(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}
