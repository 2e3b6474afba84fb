import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  type AccessTokenClaimsInput,
  type AccessTokenSettings,
  accessTokenClaims,
  type IssuedAccessToken,
} from '../domain/access-tokens.ts';
import type { AccessTokenSigner } from '../service.ts';
import type { SigningKey } from './signing-keys.ts';

/**
 * Signs access tokens: `sub`, `roles`, `sid`, `jti`, `iat`, `exp`, `iss`, `aud`, with `kid` and `alg` in the
 * header so the router picks the verifying key from auth's JWKS.
 */
export class AccessTokenIssuer implements AccessTokenSigner {
  readonly #key: SigningKey;
  readonly #settings: AccessTokenSettings;

  constructor(key: SigningKey, settings: AccessTokenSettings) {
    this.#key = key;
    this.#settings = settings;
  }

  async issue(input: AccessTokenClaimsInput, now: Date = new Date()): Promise<IssuedAccessToken> {
    const claims = accessTokenClaims(input, this.#settings, randomUUID(), now);
    const token = await new SignJWT({ roles: claims.roles, sid: claims.sid })
      .setProtectedHeader({ alg: this.#key.alg, kid: this.#key.kid, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setJti(claims.jti)
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(this.#key.privateKey);
    return { token, jti: claims.jti, expiresIn: this.#settings.ttlSeconds, expiresAt: claims.exp };
  }
}
