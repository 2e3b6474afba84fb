import { randomUUID } from 'node:crypto';
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { z } from 'zod';
import { type Identity, ROLES, type Role, type Session } from './access.ts';
import { unauthenticated } from './errors.ts';

/** Header carrying the router-signed (or service-signed) identity token on every subgraph request. */
export const IDENTITY_HEADER = 'mall-identity';
export const REQUEST_ID_HEADER = 'x-request-id';

/** Identity tokens only have to outlive one subgraph fetch; a stolen one is useless a minute later. */
const TOKEN_TTL_SECONDS = 60;
const ALG = 'HS256';

const SessionClaim = z.object({ id: z.string().min(1), tokenId: z.string().min(1), expiresAt: z.number().int() });

const Claims = z.object({
  sub: z.string().optional(),
  ses: SessionClaim.optional(),
  ip: z.string().max(64).optional(),
  roles: z.array(z.enum(ROLES)),
  rid: z.string().min(1).max(200),
  iss: z.string().min(1),
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

  sign(input: {
    userId: string | null;
    roles: readonly Role[];
    requestId: string;
    audience: string;
    session?: Session | null;
    clientIp?: string | null;
  }): Promise<string> {
    return Promise.resolve(
      this.#sign({
        roles: [...input.roles],
        rid: input.requestId,
        ...(input.session ? { ses: input.session } : {}),
        ...(input.clientIp ? { ip: input.clientIp } : {}),
        ...(input.userId ? { sub: input.userId } : {}),
        aud: input.audience,
        jti: randomUUID(),
      }),
    );
  }
}

export class IdentityVerifier {
  readonly #verify: (token: string) => Record<string, unknown>;
  /** @param issuers who may vouch for callers of this subgraph: the router and the named peer services. */
  constructor(secret: string, audience: string, issuers: readonly string[]) {
    this.#verify = createVerifier({
      key: keyOf(secret),
      algorithms: [ALG],
      allowedAud: audience,
      allowedIss: [...issuers],
      requiredClaims: ['iss', 'aud', 'iat', 'exp'],
      maxAge: (TOKEN_TTL_SECONDS + 5) * 1000,
      clockTolerance: 5_000,
      // Every token is new (fresh jti): a verification cache could only miss.
      cache: false,
    });
  }

  /** Throws UNAUTHENTICATED for a missing, forged, expired or misdirected token. */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) throw unauthenticated('Missing identity token: requests must come through the router');
    try {
      const claims = Claims.parse(this.#verify(token));
      return {
        userId: claims.sub ?? null,
        roles: claims.roles,
        requestId: claims.rid,
        issuer: claims.iss,
        session: claims.ses ?? null,
        clientIp: claims.ip ?? null,
      };
    } catch (err) {
      if (err instanceof TokenError || err instanceof z.ZodError) throw unauthenticated('Invalid identity token');
      throw err;
    }
  }
}
