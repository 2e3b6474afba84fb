import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  type AccessTokenClaimsInput,
  type AccessTokenSettings,
  accessTokenClaims,
  type IssuedAccessToken,
} from '../domain/access-tokens.ts';
import type { SigningKey } from './signing-keys.ts';

/**
 * Signs an access token: `sub`, `roles`, `sid`, `jti`, `iat`, `exp`, `iss`, `aud`, with `kid` and `alg` in the
 * header so the router picks the verifying key from auth's JWKS.
 */
export async function signAccessToken(
  key: SigningKey,
  settings: AccessTokenSettings,
  input: AccessTokenClaimsInput,
  now: Date,
): Promise<IssuedAccessToken> {
  const claims = accessTokenClaims(input, settings, randomUUID(), now);
  const token = await new SignJWT({ roles: claims.roles, sid: claims.sid })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setJti(claims.jti)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(key.privateKey);
  return { token, jti: claims.jti, expiresIn: settings.ttlSeconds, expiresAt: claims.exp };
}
