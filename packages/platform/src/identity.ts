import { randomUUID } from 'node:crypto';
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { type Identity, ROLES, type Role, type Session } from './access.ts';
import { unauthenticated } from './errors.ts';

/** Header carrying the router-signed (or service-signed) identity token on every subgraph request. */
export const IDENTITY_HEADER = 'mall-identity';
export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Keeps a caller's `x-request-id` so a client (or the edge proxy) can correlate logs, but only when it is
 * short and plain: it ends up in log lines and events, so nothing that could forge a log field.
 */
export function requestIdFrom(header: string | readonly string[] | undefined): string {
  const value = typeof header === 'string' ? header : header?.[0];
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}

/** Identity tokens only have to outlive one subgraph fetch; a stolen one is useless a minute later. */
const TOKEN_TTL_SECONDS = 60;
const ALG = 'HS256';

const SessionClaim = z.object({ id: z.string().min(1), tokenId: z.string().min(1), expiresAt: z.number().int() });

const Claims = z.object({
  sub: z.string().optional(),
  ses: SessionClaim.optional(),
  ip: z.string().max(64).optional(),
  roles: z.array(z.enum(ROLES)),
  rid: z.string().min(1).max(200).optional(),
  iss: z.string().min(1),
  // fast-jwt has checked these (required, numbers, in their window); they bound how long a verified token is reused.
  iat: z.number(),
  exp: z.number(),
  nbf: z.number().optional(),
});

function keyOf(secret: string): Buffer {
  if (secret.length < 32) throw new Error('internal secret must be at least 32 characters');
  return Buffer.from(secret, 'utf8');
}

// Identity tokens are signed and verified with fast-jwt rather than jose: both are maintained JWT libraries,
// but jose runs every HMAC through WebCrypto (a thread-pool round trip, ~0.4 ms each way under load), and this
// token is minted by the router and checked by a subgraph on every single subgraph fetch. fast-jwt uses
// node:crypto synchronously. jose stays for the public, asymmetric access tokens.

/**
 * Signs identity tokens for subgraph requests. The audience is the target subgraph, so a token captured on
 * the way to one subgraph cannot be replayed against another.
 */
export class IdentitySigner {
  readonly #sign: (payload: Record<string, unknown>) => string;
  constructor(secret: string, issuer: string) {
    this.#sign = createSigner({ key: keyOf(secret), algorithm: ALG, iss: issuer, expiresIn: TOKEN_TTL_SECONDS * 1000 });
  }

  /**
   * A token for `audience` carrying the caller. `requestId`, when given, is only a fallback for subgraphs
   * reached without an `x-request-id` header: the router reuses one token across a caller's requests.
   */
  signNow(input: {
    userId: string | null;
    roles: readonly Role[];
    audience: string;
    requestId?: string;
    session?: Session | null;
    clientIp?: string | null;
  }): string {
    return this.#sign({
      roles: [...input.roles],
      ...(input.requestId ? { rid: input.requestId } : {}),
      ...(input.session ? { ses: input.session } : {}),
      ...(input.clientIp ? { ip: input.clientIp } : {}),
      ...(input.userId ? { sub: input.userId } : {}),
      aud: input.audience,
      jti: randomUUID(),
    });
  }

  sign(input: Parameters<IdentitySigner['signNow']>[0]): Promise<string> {
    return Promise.resolve(this.signNow(input));
  }
}

/** How long fast-jwt accepts a token past `exp` (and before `nbf`), for clocks a little apart between services. */
const CLOCK_TOLERANCE_MS = 5_000;
/** A token older than this (from `iat`) is refused whatever its `exp` says. */
const MAX_AGE_MS = (TOKEN_TTL_SECONDS + 5) * 1000;
/** Verified tokens kept; past it the least recently used go first. */
const VERIFIED_CACHE_SIZE = 10_000;

interface Verified {
  readonly identity: Identity;
  /** The instants (ms) between which fast-jwt would accept the token again: the bounds of its reuse. */
  readonly from: number;
  readonly until: number;
}

export class IdentityVerifier {
  readonly #verify: (token: string) => Record<string, unknown>;
  /**
   * The router reuses a caller's token for half its life (and services theirs per call), so the same token
   * arrives many times. Its verified identity is kept under the token's exact text, only once fast-jwt has
   * checked the signature and every claim, and only while fast-jwt would accept it again; a token differing in
   * any byte is another key and is verified from scratch. fast-jwt's own cache is off: it keys on a SHA-256 of
   * the token (hashed twice per new token: ~2 % of a subgraph request's CPU when every token is new, as in a
   * flash-sale crowd), also caches refusals (so garbage tokens would take room), and hands back the raw
   * payload, which would still need parsing into an Identity each time.
   */
  readonly #verified = new LRUCache<string, Verified>({ max: VERIFIED_CACHE_SIZE });

  /** @param issuers who may vouch for callers of this subgraph: the router and the named peer services. */
  constructor(secret: string, audience: string, issuers: readonly string[]) {
    this.#verify = createVerifier({
      key: keyOf(secret),
      algorithms: [ALG],
      allowedAud: audience,
      allowedIss: [...issuers],
      requiredClaims: ['iss', 'aud', 'iat', 'exp'],
      maxAge: MAX_AGE_MS,
      clockTolerance: CLOCK_TOLERANCE_MS,
      cache: false,
    });
  }

  /** Throws UNAUTHENTICATED for a missing, forged, expired or misdirected token. */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) throw unauthenticated('Missing identity token: requests must come through the router');
    // The clock fast-jwt reads too.
    const now = Date.now();
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      if (now >= cached.from && now <= cached.until) return cached.identity;
      this.#verified.delete(token);
    }
    let claims: z.infer<typeof Claims>;
    try {
      claims = Claims.parse(this.#verify(token));
    } catch (err) {
      if (err instanceof TokenError || err instanceof z.ZodError) throw unauthenticated('Invalid identity token');
      throw err;
    }
    // Frozen: one object now serves every request that presents this token, so none may change it for the rest.
    const identity: Identity = Object.freeze({
      userId: claims.sub ?? null,
      roles: Object.freeze(claims.roles),
      requestId: claims.rid ?? '',
      issuer: claims.iss,
      session: claims.ses ? Object.freeze(claims.ses) : null,
      clientIp: claims.ip ?? null,
    });
    // The same bounds as fast-jwt's checks (nbf, exp, iat + maxAge, with its tolerance), so a cached token is
    // accepted exactly as long as verifying it again would accept it.
    const from = claims.nbf === undefined ? 0 : claims.nbf * 1000 - CLOCK_TOLERANCE_MS;
    const until = Math.min(claims.exp * 1000 + CLOCK_TOLERANCE_MS, claims.iat * 1000 + MAX_AGE_MS);
    if (until >= now) this.#verified.set(token, { identity, from, until });
    return identity;
  }
}

/** Who an identity token vouches for: every claim it carries but its id. */
export interface Vouched {
  readonly userId: string | null;
  readonly roles: readonly Role[];
  readonly session?: Session | null;
  readonly clientIp?: string | null;
}

/**
 * Identity tokens live 60 s; one is reused for at most half of that, so a token always has 30 s left when a
 * subgraph checks it (longer than any fetch or service call may take).
 */
const TOKEN_REUSE_MS = 30_000;
/** Distinct callers whose tokens are kept; past it the oldest go first (they are the nearest to expiry anyway). */
const TOKEN_CACHE_SIZE = 20_000;

/**
 * Identity tokens signed once per caller and audience and reused within their lifetime, instead of one HMAC
 * and one UUID per call; reuse also lets the receiving subgraph's verifier cache the token. The key holds
 * every claim the token carries (user, roles, session, client IP, audience), so two callers whose identity
 * differs in anything never share a token. The request id travels in its own header, not in the token.
 */
export class IdentityTokens {
  readonly #signer: IdentitySigner;
  readonly #tokens = new Map<string, { readonly token: string; readonly freshUntil: number }>();
  readonly #now: () => number;

  constructor(signer: IdentitySigner, now: () => number = Date.now) {
    this.#signer = signer;
    this.#now = now;
  }

  get size(): number {
    return this.#tokens.size;
  }

  for(audience: string, who: Vouched): string {
    const { session } = who;
    const key = `${audience}\n${who.clientIp ?? ''}\n${who.userId ?? ''}\n${who.roles.join(',')}\n${session ? `${session.id}\n${session.tokenId}\n${session.expiresAt}` : ''}`;
    const now = this.#now();
    const cached = this.#tokens.get(key);
    if (cached && cached.freshUntil > now) return cached.token;
    const token = this.#signer.signNow({
      userId: who.userId,
      roles: who.roles,
      audience,
      session: session ?? null,
      clientIp: who.clientIp ?? null,
    });
    if (cached) this.#tokens.delete(key);
    else if (this.#tokens.size >= TOKEN_CACHE_SIZE) this.#evict(now);
    this.#tokens.set(key, { token, freshUntil: now + TOKEN_REUSE_MS });
    return token;
  }

  /** Drops stale tokens, or the oldest entry when all are fresh (a Map iterates in insertion order). */
  #evict(now: number): void {
    for (const [key, entry] of this.#tokens) if (entry.freshUntil <= now) this.#tokens.delete(key);
    if (this.#tokens.size >= TOKEN_CACHE_SIZE) {
      const oldest = this.#tokens.keys().next();
      if (!oldest.done) this.#tokens.delete(oldest.value);
    }
  }
}
