import type { Role } from '@mall/platform/access';

export interface AccessTokenClaimsInput {
  readonly userId: string;
  readonly roles: readonly Role[];
  /** The refresh-token family: the router hands it back to auth as `identity.session.id` on logout. */
  readonly sessionId: string;
}

export interface AccessTokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

/** The claim set of an access token; the router verifies every one of them. */
export interface AccessTokenClaims {
  readonly sub: string;
  readonly roles: Role[];
  readonly sid: string;
  readonly jti: string;
  /** Unix seconds. */
  readonly iat: number;
  /** Unix seconds: `iat` + the TTL. */
  readonly exp: number;
  readonly iss: string;
  readonly aud: string;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresIn: number;
  /** Unix seconds. */
  readonly expiresAt: number;
}

/** What an access token issued at `now` says; `jti` comes from the caller so this stays deterministic. */
export function accessTokenClaims(
  input: AccessTokenClaimsInput,
  settings: AccessTokenSettings,
  jti: string,
  now: Date,
): AccessTokenClaims {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    sub: input.userId,
    roles: [...input.roles],
    sid: input.sessionId,
    jti,
    iat,
    exp: iat + settings.ttlSeconds,
    iss: settings.issuer,
    aud: settings.audience,
  };
}
