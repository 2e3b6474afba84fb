import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from '@mall/platform';
import type { SigningKey } from './signing-keys.ts';

export interface AccessTokenClaimsInput {
  readonly userId: string;
  readonly roles: readonly Role[];
  /** The refresh-token family: the router hands it back to auth as `identity.session.id` on logout. */
  readonly sessionId: string;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresIn: number;
  /** Unix seconds. */
  readonly expiresAt: number;
}

export interface AccessTokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

/**
 * Signs access tokens: `sub`, `roles`, `sid`, `jti`, `iat`, `exp`, `iss`, `aud`, with `kid` and `alg` in the
 * header so the router picks the verifying key from auth's JWKS.
 */
export class AccessTokenIssuer {
  readonly #key: SigningKey;
  readonly #settings: AccessTokenSettings;

  constructor(key: SigningKey, settings: AccessTokenSettings) {
    this.#key = key;
    this.#settings = settings;
  }

  async issue(input: AccessTokenClaimsInput, now: Date = new Date()): Promise<IssuedAccessToken> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.#settings.ttlSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({ roles: [...input.roles], sid: input.sessionId })
      .setProtectedHeader({ alg: this.#key.alg, kid: this.#key.kid, typ: 'JWT' })
      .setSubject(input.userId)
      .setIssuer(this.#settings.issuer)
      .setAudience(this.#settings.audience)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#key.privateKey);
    return { token, jti, expiresIn: this.#settings.ttlSeconds, expiresAt: exp };
  }
}
