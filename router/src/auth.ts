import { KeyObject, type webcrypto } from 'node:crypto';
import { authKeys, ROLES, type Role, type Session } from '@mall/platform';
import { type Algorithm, createVerifier, TokenError } from 'fast-jwt';
import type { Redis } from 'ioredis';
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, type ProtectedHeaderParameters } from 'jose';
import { z } from 'zod';
import type { RevocationCache, RevocationEntries } from './revocation-cache.ts';

/** A caller whose access token verified: what the router vouches for to subgraphs. */
export interface Caller {
  readonly userId: string;
  readonly roles: readonly Role[];
  readonly session: Session;
  /** The access token's `iat` (unix seconds): open subscriptions compare it with user-wide revocations. */
  readonly issuedAt?: number;
}

/** Why a token was refused; the label of the auth-failure metric, never shown to the client beyond "expired". */
export type AuthFailureReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'unknown_kid'
  | 'bad_signature'
  | 'expired'
  | 'claims'
  | 'denylisted'
  | 'revoked';

/** The caller's token is not acceptable: UNAUTHENTICATED. Anything else the verifier throws is our fault. */
export class AuthFailure extends Error {
  readonly reason: AuthFailureReason;
  constructor(reason: AuthFailureReason, message: string = reason) {
    super(message);
    this.name = 'AuthFailure';
    this.reason = reason;
  }
}

/** The revocation entries in Redis cannot be trusted right now (see `authKeys.revocationsGeneration`). */
export class RevocationsUnavailable extends Error {
  override readonly name = 'RevocationsUnavailable';
  constructor() {
    super('access-token revocations are being reloaded into Redis');
  }
}

/** Asymmetric only: `none` and HS* (the public key used as an HMAC secret) never reach a key. */
const ALGORITHMS: readonly Algorithm[] = ['ES256', 'EdDSA'];
const isAccepted = (alg: unknown): alg is Algorithm => ALGORITHMS.includes(alg as Algorithm);
/** Auth issues access tokens for at most 15 minutes; anything older was not issued by a healthy auth. */
const MAX_TOKEN_AGE_SECONDS = 900;
const CLOCK_TOLERANCE_SECONDS = 10;
/** A bearer token is a few hundred bytes; refusing huge ones early keeps parsing cheap. */
const MAX_TOKEN_LENGTH = 4096;
/** Verified tokens remembered (signature and claims; never the revocation check). Past it the oldest go. */
const VERIFIED_CACHE_SIZE = 50_000;

/** The `confirmed` of a caller known good at once (anonymous, or answered from the revocation copy). */
export const CONFIRMED: Promise<void> = Promise.resolve();

const Claims = z.object({
  sub: z.string().min(1).max(128),
  sid: z.string().min(1).max(128),
  jti: z.string().min(1).max(128),
  iat: z.number().int(),
  exp: z.number().int(),
  // Roles this router does not know grant nothing; dropping them beats refusing a token after a role is added.
  roles: z
    .array(z.string())
    .transform((roles) => roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r))),
});

export interface JwtVerifierOptions {
  /** Auth's `/.well-known/jwks.json`. */
  readonly jwksUrl: URL;
  readonly issuer: string;
  readonly audience: string;
  /** Reads the logout denylist and per-user revocations that auth writes. */
  readonly redis: Redis;
  /** The router's copy of those, kept current by Redis: answers without a round trip when it can. */
  readonly revocationCache?: RevocationCache | undefined;
  /** How long a fetched key set is used before it is fetched again. */
  readonly cacheMaxAgeMs?: number;
  /** Minimum time between refetches triggered by an unknown `kid`, so forged kids cannot hammer auth. */
  readonly cooldownMs?: number;
  readonly fetchTimeoutMs?: number;
  /** The clock, in ms (tests). */
  readonly now?: () => number;
}

/** The JWKS URL of the auth subgraph whose GraphQL endpoint is `authUrl` (usually ending in `/graphql`). */
export function jwksUrlOf(authUrl: string): URL {
  const url = new URL(authUrl);
  url.pathname = `${url.pathname.replace(/\/graphql\/?$/, '').replace(/\/$/, '')}/.well-known/jwks.json`;
  url.search = '';
  return url;
}

/** What jose's key set refuses on the caller's account; its fetch failures (timeout, auth down, bad JSON) are ours. */
function classifyKeyLookup(err: unknown): AuthFailureReason | undefined {
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return 'unknown_kid';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported)
    return 'alg_not_allowed';
  return undefined;
}

/** fast-jwt's refusals of the token itself, by its error code. */
const TOKEN_REFUSALS: Readonly<Record<string, AuthFailureReason>> = {
  [TokenError.codes.expired]: 'expired',
  [TokenError.codes.inactive]: 'claims',
  [TokenError.codes.invalidClaimValue]: 'claims',
  [TokenError.codes.invalidClaimType]: 'claims',
  [TokenError.codes.missingRequiredClaim]: 'claims',
  [TokenError.codes.invalidSignature]: 'bad_signature',
  [TokenError.codes.invalidAlgorithm]: 'alg_not_allowed',
  [TokenError.codes.malformed]: 'malformed',
  [TokenError.codes.invalidPayload]: 'malformed',
  [TokenError.codes.invalidType]: 'malformed',
  [TokenError.codes.missingSignature]: 'malformed',
  [TokenError.codes.invalidCritHeader]: 'malformed',
};

type TokenCheck = (token: string) => unknown;
type CryptoKey = webcrypto.CryptoKey;

/**
 * Verifies access tokens issued by auth, once, at the edge. The key set is jose's: fetched, cached, refetched
 * on an unknown `kid` (after a cooldown), so a key rotation needs no router restart. The token itself is
 * checked by fast-jwt (signature, algorithm, issuer, audience, required claims, expiry and age) with the key
 * jose picked: synchronously through node:crypto, where jose's own check goes through WebCrypto, whose every
 * verification is a thread-pool job. In a flash-sale crowd every buyer's token is new, and that job's hand-off
 * was 15 % of the router's main thread (bench/profiles/flashsale.md); see bench/results/flashsale.md for the
 * A/B. After the signature and
 * claims, the logout denylist and the user-wide revocation are checked, and that Redis still holds them all
 * (the generation marker): in the router's copy of them when it can answer (`RevocationCache`), else with one
 * Redis round trip. Any doubt refuses the token for now (fails closed, UNAVAILABLE).
 */
export class JwtVerifier {
  readonly #keys: (header: ProtectedHeaderParameters) => Promise<CryptoKey>;
  /** A fast-jwt check per key jose hands out (a refetched key set hands out new objects, so none outlives it). */
  readonly #checks = new WeakMap<CryptoKey, TokenCheck>();
  readonly #issuer: string;
  readonly #audience: string;
  readonly #redis: Redis;
  readonly #cache: RevocationCache | undefined;
  /** The marker last seen, and the one seen before our connection broke (undefined: none to distrust). */
  #lastGeneration: string | undefined;
  #staleGeneration: string | undefined;
  /**
   * Tokens whose signature and claims verified, until they expire. A client sends the same token with every
   * request for its whole life, and a signature costs about 80 µs of CPU (Ed25519 here; ES256 more); the
   * revocation check still runs on every request.
   */
  readonly #verified = new Map<string, z.infer<typeof Claims>>();
  readonly #now: () => number;

  constructor(options: JwtVerifierOptions) {
    const remote = createRemoteJWKSet(options.jwksUrl, {
      cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
      cooldownDuration: options.cooldownMs ?? 10_000,
      timeoutDuration: options.fetchTimeoutMs ?? 3_000,
    });
    // Auth always names its key; a token without a kid would make jose guess among the published keys.
    this.#keys = async (header) => {
      if (!header.kid) throw new AuthFailure('unknown_kid', 'token has no kid');
      return (await remote(header)) as CryptoKey;
    };
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#redis = options.redis;
    this.#now = options.now ?? Date.now;
    this.#redis.on('close', () => this.#distrustGeneration());
    this.#cache = options.revocationCache;
    this.#cache?.onLost(() => this.#distrustGeneration());
  }

  /**
   * Our connection to Redis broke: revocations auth recorded meanwhile may not be in Redis yet. Until auth's
   * mirror has copied them (it renews the generation marker after every pass), the old marker proves nothing.
   */
  #distrustGeneration(): void {
    this.#staleGeneration ??= this.#lastGeneration;
  }

  /**
   * `Authorization` header → caller; no header is an anonymous caller (null), a bad one an AuthFailure.
   * `alongside` (the per-user rate limit) runs concurrently with the revocation lookup once the signature
   * holds, so the two Redis round trips overlap; a refused token wins over whatever `alongside` throws.
   */
  async authenticate(
    authorization: string | undefined,
    alongside?: (userId: string) => Promise<void>,
  ): Promise<Caller | null> {
    const staged = await this.authenticateStaged(authorization, alongside);
    await staged.confirmed;
    return staged.caller;
  }

  /**
   * As `authenticate`, in two steps: resolves once the signature and claims hold, with the caller they name
   * and `confirmed`, which settles when the revocation lookup (and `alongside`) have: it rejects with the
   * AuthFailure (or the Redis error) that `authenticate` would have thrown. Until it resolves the caller is
   * only claimed: nothing may be done in its name (see the router's admission).
   */
  async authenticateStaged(
    authorization: string | undefined,
    alongside?: (userId: string) => Promise<void>,
  ): Promise<{ caller: Caller | null; confirmed: Promise<void> }> {
    if (authorization === undefined) return { caller: null, confirmed: CONFIRMED };
    const match = /^Bearer +([^\s]+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new AuthFailure('malformed', 'expected "Authorization: Bearer <token>"');
    return this.verifyStaged(match[1], alongside);
  }

  async verify(token: string, alongside?: (userId: string) => Promise<void>): Promise<Caller> {
    const staged = await this.verifyStaged(token, alongside);
    await staged.confirmed;
    return staged.caller;
  }

  async verifyStaged(
    token: string,
    alongside?: (userId: string) => Promise<void>,
  ): Promise<{ caller: Caller; confirmed: Promise<void> }> {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthFailure('malformed', 'token too long');
    let claims = this.#verified.get(token);
    if (claims && claims.exp * 1000 <= this.#now()) {
      this.#verified.delete(token);
      claims = undefined;
    }
    claims ??= await this.#verifySignature(token);
    const revocations = this.#checkRevocations(claims);
    const side = alongside?.(claims.sub);
    // Nothing alongside (or nothing it must wait for, limits off): the revocation verdict is the answer as it is.
    const confirmed =
      side === undefined || side === CONFIRMED
        ? revocations
        : Promise.allSettled([revocations, side]).then(([revoked, sided]) => {
            if (revoked.status === 'rejected') throw revoked.reason;
            if (sided.status === 'rejected') throw sided.reason;
          });
    return {
      caller: {
        userId: claims.sub,
        roles: claims.roles,
        session: { id: claims.sid, tokenId: claims.jti, expiresAt: claims.exp },
        issuedAt: claims.iat,
      },
      confirmed,
    };
  }

  async #verifySignature(token: string): Promise<z.infer<typeof Claims>> {
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (err) {
      throw new AuthFailure('malformed', (err as Error).message);
    }
    // Before any key is looked up: `none`, and HS* with a public key as the secret, never reach one.
    const alg = header.alg;
    if (!isAccepted(alg)) throw new AuthFailure('alg_not_allowed', `alg ${String(alg)} is not accepted`);
    let key: CryptoKey;
    try {
      key = await this.#keys(header);
    } catch (err) {
      if (err instanceof AuthFailure) throw err;
      const reason = classifyKeyLookup(err);
      if (reason) throw new AuthFailure(reason, (err as Error).message);
      throw err;
    }
    let payload: unknown;
    try {
      payload = this.#checkFor(key, alg)(token);
    } catch (err) {
      const reason = err instanceof TokenError ? TOKEN_REFUSALS[err.code] : undefined;
      if (reason) throw new AuthFailure(reason, reason === 'expired' ? 'Access token expired' : (err as Error).message);
      throw err;
    }
    const parsed = Claims.safeParse(payload);
    if (!parsed.success) throw new AuthFailure('claims', 'unexpected claim types');
    // jose refused an `iat` in the future (beyond the tolerance); fast-jwt only bounds the age, so it is done here.
    if (parsed.data.iat > this.#now() / 1000 + CLOCK_TOLERANCE_SECONDS)
      throw new AuthFailure('claims', 'token issued in the future');
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    // Remembered only until `exp` itself, without jose's clock tolerance: a cached token never outlives its word.
    this.#verified.set(token, parsed.data);
    return parsed.data;
  }

  /**
   * The check of tokens signed with `key`. fast-jwt reads the clock at creation when given one, so with an
   * injected clock (tests) a check is made per call; in production one per key is kept.
   */
  #checkFor(key: CryptoKey, alg: Algorithm): TokenCheck {
    const injected = this.#now !== Date.now;
    const kept = injected ? undefined : this.#checks.get(key);
    if (kept) return kept;
    const pem = KeyObject.from(key).export({ type: 'spki', format: 'pem' }) as string;
    const check: TokenCheck = createVerifier({
      key: pem,
      algorithms: [alg],
      allowedIss: this.#issuer,
      allowedAud: this.#audience,
      requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
      // As jose counted them: the age bound with the tolerance (fast-jwt applies it to exp and nbf only).
      maxAge: (MAX_TOKEN_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000,
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000,
      // fast-jwt's cache hashes every new token; the verified map above keeps what a repeat needs.
      cache: false,
      ...(injected ? { clockTimestamp: this.#now() } : {}),
    });
    if (!injected) this.#checks.set(key, check);
    return check;
  }

  /**
   * Settles once the token is known not revoked. The copy answers at once when it can vouch for itself and the
   * marker it holds is one to trust; a missing or distrusted marker is left to Redis itself to confirm.
   */
  #checkRevocations(claims: z.infer<typeof Claims>): Promise<void> {
    const cached = this.#cache?.lookup(claims.jti, claims.sub);
    if (cached && cached[0] !== null && cached[0] !== this.#staleGeneration) {
      try {
        this.#decide(claims, cached);
      } catch (err) {
        return Promise.reject(err);
      }
      return CONFIRMED;
    }
    return this.#readRevocations(claims);
  }

  async #readRevocations(claims: z.infer<typeof Claims>): Promise<void> {
    // A Redis failure propagates: a logged-out token must not pass just because the denylist is unreachable.
    let entries: (string | null)[];
    try {
      entries = await this.#redis.mget(
        authKeys.revocationsGeneration,
        authKeys.deniedAccessToken(claims.jti),
        authKeys.userRevokedAt(claims.sub),
      );
    } catch (err) {
      this.#distrustGeneration();
      throw err;
    }
    this.#decide(claims, entries as unknown as RevocationEntries);
  }

  #decide(claims: z.infer<typeof Claims>, [generation, denied, revokedAt]: RevocationEntries): void {
    // Redis lost its data (restarted empty, flushed) and auth has not reloaded the revocations from its
    // database yet, or we were cut off and auth has not renewed the marker since: an absent entry proves
    // nothing, so no token passes for now.
    if (generation == null || generation === this.#staleGeneration) throw new RevocationsUnavailable();
    this.#staleGeneration = undefined;
    this.#lastGeneration = generation;
    if (denied !== null) throw new AuthFailure('denylisted', 'Access token revoked');
    // Written as "not after" so an unreadable value refuses rather than admits.
    if (revokedAt !== null && !(claims.iat > Number(revokedAt)))
      throw new AuthFailure('revoked', 'Access token revoked');
  }
}
