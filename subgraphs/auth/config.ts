import { configFields, defineConfig } from '@mall/platform';
import { z } from 'zod';

/** auth's own variables: only auth holds the signing key (least privilege). */
export const authConfig = defineConfig(
  'auth',
  z
    .object({
      AUTH_JWT_PRIVATE_KEY: configFields.optionalString,
      // Extra public keys auth publishes in its JWKS: a retired key until its tokens expire, or the next one
      // ahead of a rotation.
      AUTH_JWT_PREVIOUS_PUBLIC_KEYS: configFields.optionalString,
      AUTH_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(900).default(900),
      AUTH_REFRESH_TOKEN_TTL_SECONDS: z.coerce
        .number()
        .int()
        .min(60)
        .default(30 * 24 * 3600),
    })
    .transform((e) => ({
      /** PKCS8 PEM or private JWK; generated into MALL_DATA_DIR in development, required in production. */
      jwtPrivateKey: e.AUTH_JWT_PRIVATE_KEY,
      /** JSON (a JWK, an array of JWKs or a JWKS) or PEM SPKI blocks; undefined when there are none. */
      previousPublicKeys: e.AUTH_JWT_PREVIOUS_PUBLIC_KEYS,
      accessTokenTtlSeconds: e.AUTH_ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.AUTH_REFRESH_TOKEN_TTL_SECONDS,
    })),
);
export type AuthConfig = z.infer<typeof authConfig.schema>;
