import { KeyObject, verify as verifySignature } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, type CompactJWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ROLES, authKeys, type Role, type Session } from '@mall/platform';

/** A caller whose access token verified: what the router vouches for to subgraphs. */
export interface Caller {
  readonly userId: string;
  readonly roles: readonly Role[];
  readonly session: Session;
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

/** Asymmetric only: `none` and HS* (the public key used as an HMAC secret) never reach a key. */
const ALGORITHMS: ReadonlySet<string> = new Set(['ES256', 'EdDSA']);
/** Auth issues access tokens for at most 15 minutes; anything older was not issued by a healthy auth. */
const MAX_TOKEN_AGE_SECONDS = 900;
const CLOCK_TOLERANCE_SECONDS = 10;
/** A bearer token is a few hundred bytes; refusing huge ones early keeps parsing cheap. */
const MAX_TOKEN_LENGTH = 4096;

const Claims = z.object({
  sub: z.string().min(1).max(128),
  sid: z.string().min(1).max(128),
  jti: z.string().min(1).max(128),
  iat: z.number().int(),
  exp: z.number().int(),
  // Roles this router does not know grant nothing; dropping them beats refusing a token after a role is added.
  roles: z.array(z.string()).transform((roles) => roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r))),
});

export interface JwtVerifierOptions {
  /** Auth's `/.well-known/jwks.json`. */
  readonly jwksUrl: URL;
  readonly issuer: string;
  readonly audience: string;
  /** Reads the logout denylist and per-user revocations that auth writes. */
  readonly redis: Redis;
  /** How long a fetched key set is used before it is fetched again. */
  readonly cacheMaxAgeMs?: number;
  /** Minimum time between refetches triggered by an unknown `kid`, so forged kids cannot hammer auth. */
  readonly cooldownMs?: number;
  readonly fetchTimeoutMs?: number;
}

/** The JWKS URL of the auth subgraph whose GraphQL endpoint is `authUrl` (usually ending in `/graphql`). */
export function jwksUrlOf(authUrl: string): URL {
  const url = new URL(authUrl);
  url.pathname = `${url.pathname.replace(/\/graphql\/?$/, '').replace(/\/$/, '')}/.well-known/jwks.json`;
  url.search = '';
  return url;
}

function classify(err: unknown): AuthFailureReason | undefined {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return 'claims';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return 'alg_not_allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown_kid';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'malformed';
  // JWKS fetch failures (timeout, auth down, bad JSON) are not the caller's doing: let them surface as ours.
  return undefined;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Claims auth always sets; with `iss`, `aud` (and `iat` again, for the age limit) jose's presence check. */
const REQUIRED_CLAIMS = ['iss', 'aud', 'iat', 'exp', 'jti', 'sid', 'sub'];

/** A base64url JSON object segment; anything else is a malformed token. */
function decodeJsonSegment(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw new AuthFailure('malformed', `${what} is not base64url JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AuthFailure('malformed', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * The key set hands out CryptoKeys; node:crypto verifies with the same key as a KeyObject, synchronously.
 * Converted once per key (the key set caches its CryptoKeys).
 */
const keyObjects = new WeakMap<object, KeyObject>();
function keyObjectOf(key: Parameters<typeof KeyObject.from>[0], alg: string): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  // The key set only offers keys of the token's algorithm; a mismatch here is our bug, not the caller's.
  const fits =
    alg === 'EdDSA'
      ? object.asymmetricKeyType === 'ed25519'
      : object.asymmetricKeyType === 'ec' && object.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (object.type !== 'public' || !fits) throw new TypeError(`key for ${alg} is a ${object.asymmetricKeyType ?? object.type} key`);
  return object;
}

/**
 * Tokens whose signature already verified, per key. Verifying is a pure function of (token, key), so the
 * memo answers exactly what verifying again would; only the signature is memoised: the key lookup, the
 * claims, the expiry and the denylist are checked on every request. A client reuses its access token for
 * up to 15 minutes, so this spares one Ed25519/ECDSA verify (~0.1 ms) per request. Only tokens auth signed
 * get in (failures are never remembered), and each key's memo is bounded, oldest entries going first.
 * Keyed by the KeyObject, so a key set reload that drops or replaces a key leaves its entries unreachable.
 */
const MAX_MEMOISED_SIGNATURES_PER_KEY = 10_000;
const verifiedSignatures = new WeakMap<KeyObject, Set<string>>();

function signatureVerifiedBefore(key: KeyObject, token: string): boolean {
  return verifiedSignatures.get(key)?.has(token) ?? false;
}

function rememberVerifiedSignature(key: KeyObject, token: string): void {
  let tokens = verifiedSignatures.get(key);
  if (!tokens) {
    tokens = new Set();
    verifiedSignatures.set(key, tokens);
  }
  if (tokens.size >= MAX_MEMOISED_SIGNATURES_PER_KEY) {
    const oldest = tokens.values().next();
    if (!oldest.done) tokens.delete(oldest.value);
  }
  tokens.add(token);
}

function signatureValid(alg: string, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  try {
    return alg === 'EdDSA'
      ? verifySignature(null, signingInput, key, signature)
      : verifySignature('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

function numericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new AuthFailure('claims', `"${name}" claim must be a number`);
  return value;
}

/**
 * Verifies access tokens issued by auth, once, at the edge. The key set is cached and refetched on an
 * unknown `kid` (after a cooldown), so a key rotation needs no router restart. After the signature and
 * claims, one Redis round trip checks the logout denylist and the user-wide revocation.
 */
export class JwtVerifier {
  readonly #keys: JWTVerifyGetKey;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #redis: Redis;

  constructor(options: JwtVerifierOptions) {
    const remote = createRemoteJWKSet(options.jwksUrl, {
      cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
      cooldownDuration: options.cooldownMs ?? 10_000,
      timeoutDuration: options.fetchTimeoutMs ?? 3_000,
    });
    // Auth always names its key; a token without a kid would make jose guess among the published keys.
    this.#keys = async (header, token) => {
      if (!header.kid) throw new AuthFailure('unknown_kid', 'token has no kid');
      return remote(header, token);
    };
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#redis = options.redis;
  }

  /** `Authorization` header → caller; no header is an anonymous caller (null), a bad one an AuthFailure. */
  async authenticate(authorization: string | undefined): Promise<Caller | null> {
    if (authorization === undefined) return null;
    const match = /^Bearer +([^\s]+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw new AuthFailure('malformed', 'expected "Authorization: Bearer <token>"');
    return this.verify(match[1]);
  }

  async verify(token: string): Promise<Caller> {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthFailure('malformed', 'token too long');
    let payload: Record<string, unknown>;
    try {
      payload = await this.#verifyJwt(token);
    } catch (err) {
      if (err instanceof AuthFailure) throw err;
      const reason = classify(err);
      if (reason) throw new AuthFailure(reason, reason === 'expired' ? 'Access token expired' : (err as Error).message);
      throw err;
    }
    const parsed = Claims.safeParse(payload);
    if (!parsed.success) throw new AuthFailure('claims', 'unexpected claim types');
    const claims = parsed.data;

    // A Redis failure propagates: a logged-out token must not pass just because the denylist is unreachable.
    const [denied, revokedAt] = await this.#redis.mget(authKeys.deniedAccessToken(claims.jti), authKeys.userRevokedAt(claims.sub));
    if (denied !== null) throw new AuthFailure('denylisted', 'Access token revoked');
    // Written as "not after" so an unreadable value refuses rather than admits.
    if (revokedAt !== null && !(claims.iat > Number(revokedAt))) throw new AuthFailure('revoked', 'Access token revoked');

    return { userId: claims.sub, roles: claims.roles, session: { id: claims.sid, tokenId: claims.jti, expiresAt: claims.exp } };
  }

  /**
   * What jose's `jwtVerify` did with our options (compact JWS, ES256/EdDSA only, the key by kid from the
   * cached key set, then iss, aud, the claims auth always sets, exp, nbf and the age limit with the clock
   * tolerance), in the same order and with the same failure reasons, but with node:crypto's synchronous
   * verify: jose's WebCrypto verify is a thread-pool round trip per request.
   */
  async #verifyJwt(token: string): Promise<Record<string, unknown>> {
    const parts = token.split('.');
    if (parts.length !== 3) throw new AuthFailure('malformed', 'Invalid Compact JWS');
    const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = parts;
    if (!BASE64URL.test(headerSegment) || !BASE64URL.test(payloadSegment) || !BASE64URL.test(signatureSegment)) {
      throw new AuthFailure('malformed', 'token is not base64url');
    }
    const header = decodeJsonSegment(headerSegment, 'JWS Protected Header');
    const crit = header['crit'];
    if (crit !== undefined) {
      // jose recognises only `b64`, which a JWT may not turn off; auth never sets `crit`.
      const names = Array.isArray(crit) && crit.length > 0 && crit.every((c) => typeof c === 'string' && c.length > 0) ? (crit as string[]) : null;
      if (names?.some((name) => name !== 'b64')) throw new AuthFailure('alg_not_allowed', 'unrecognised crit header parameter');
      throw new AuthFailure('malformed', 'crit header parameter not supported');
    }
    const alg = header['alg'];
    if (typeof alg !== 'string' || !alg) throw new AuthFailure('malformed', 'JWS "alg" (Algorithm) Header Parameter missing or invalid');
    if (!ALGORITHMS.has(alg)) throw new AuthFailure('alg_not_allowed', '"alg" (Algorithm) Header Parameter value not allowed');

    const key = keyObjectOf((await this.#keys({ ...header, alg } as CompactJWSHeaderParameters, { protected: headerSegment, payload: payloadSegment, signature: signatureSegment })) as Parameters<typeof KeyObject.from>[0], alg);
    if (!signatureVerifiedBefore(key, token)) {
      const signature = Buffer.from(signatureSegment, 'base64url');
      if (signature.toString('base64url') !== signatureSegment) throw new AuthFailure('malformed', 'signature is not canonical base64url');
      if (!signatureValid(alg, key, Buffer.from(`${headerSegment}.${payloadSegment}`, 'latin1'), signature)) {
        throw new AuthFailure('bad_signature', 'signature verification failed');
      }
      rememberVerifiedSignature(key, token);
    }

    const claims = decodeJsonSegment(payloadSegment, 'JWT Claims Set');
    for (const name of REQUIRED_CLAIMS) if (!Object.hasOwn(claims, name)) throw new AuthFailure('claims', `missing required "${name}" claim`);
    if (claims['iss'] !== this.#issuer) throw new AuthFailure('claims', 'unexpected "iss" claim value');
    const aud = claims['aud'];
    if (!(typeof aud === 'string' ? aud === this.#audience : Array.isArray(aud) && aud.includes(this.#audience))) {
      throw new AuthFailure('claims', 'unexpected "aud" claim value');
    }
    const now = Math.floor(Date.now() / 1000);
    const iat = numericDate(claims, 'iat')!;
    const nbf = numericDate(claims, 'nbf');
    if (nbf !== undefined && nbf > now + CLOCK_TOLERANCE_SECONDS) throw new AuthFailure('claims', '"nbf" claim timestamp check failed');
    const exp = numericDate(claims, 'exp')!;
    if (exp <= now - CLOCK_TOLERANCE_SECONDS) throw new AuthFailure('expired', 'Access token expired');
    const age = now - iat;
    if (age - CLOCK_TOLERANCE_SECONDS > MAX_TOKEN_AGE_SECONDS) throw new AuthFailure('expired', 'Access token expired');
    if (age < -CLOCK_TOLERANCE_SECONDS) throw new AuthFailure('claims', '"iat" claim timestamp check failed (it should be in the past)');
    return claims;
  }
}
