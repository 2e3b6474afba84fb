import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { type Config, devSecret, type Logger } from '@mall/platform';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { AuthConfig } from '../config.ts';

/** EdDSA (Ed25519) by default; ES256 (P-256) for operators whose key tooling prefers it. */
export type SigningAlg = 'EdDSA' | 'ES256';
export const SIGNING_ALGORITHMS: readonly SigningAlg[] = ['EdDSA', 'ES256'];

export interface PublicJwk extends JWK {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly use: 'sig';
}

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: KeyObject;
  readonly publicJwk: PublicJwk;
}

export interface SigningKeys {
  /** Signs every new access token. */
  readonly current: SigningKey;
  /** What `/.well-known/jwks.json` serves: the current key first, then the extra ones (retired or upcoming). */
  readonly jwks: { readonly keys: readonly PublicJwk[] };
}

export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

function algOf(key: KeyObject): SigningAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new SigningKeyError(
    `unsupported signing key type ${key.asymmetricKeyType ?? key.type}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}: use Ed25519 or P-256`,
  );
}

// Kubernetes secrets and .env files often carry a PEM on one line with literal "\n"s.
const unescapePem = (text: string) => text.trim().replaceAll('\\n', '\n');

async function toPublicJwk(publicKey: KeyObject, alg: SigningAlg, kid: string | undefined): Promise<PublicJwk> {
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const jwk: JWK = { kty, crv, x, ...(y ? { y } : {}) };
  // The RFC 7638 thumbprint: stable for a key wherever it is loaded, so every instance agrees on the kid.
  return { ...jwk, kid: kid ?? (await calculateJwkThumbprint(jwk)), alg, use: 'sig' };
}

/**
 * Reads a private signing key: PEM (PKCS#8, `-----BEGIN PRIVATE KEY-----`) or a private JWK as JSON (whose
 * `kid`, when present, is kept). Ed25519 signs with EdDSA, P-256 with ES256; anything else is refused.
 */
export async function parsePrivateKey(text: string): Promise<SigningKey> {
  const trimmed = text.trim();
  let privateKey: KeyObject;
  let kid: string | undefined;
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JsonWebKey & { kid?: unknown };
      if (typeof jwk.d !== 'string') throw new SigningKeyError('the JWK has no private part ("d")');
      kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : undefined;
      privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
    } else {
      privateKey = createPrivateKey({ key: unescapePem(trimmed), format: 'pem' });
    }
  } catch (err) {
    if (err instanceof SigningKeyError) throw err;
    throw new SigningKeyError('AUTH_JWT_PRIVATE_KEY is neither a PKCS#8 PEM nor a private JWK', { cause: err });
  }
  const alg = algOf(privateKey);
  const publicJwk = await toPublicJwk(createPublicKey(privateKey), alg, kid);
  return { kid: publicJwk.kid, alg, privateKey, publicJwk };
}

/**
 * Reads the extra published keys (retired, or next in line): JSON (one JWK, an array of them, or a JWKS
 * `{ "keys": [...] }`) or PEM `PUBLIC KEY` blocks. Private material is refused, so no private key is ever
 * published by mistake.
 */
export async function parsePublicKeys(text: string): Promise<PublicJwk[]> {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const inputs: { key: KeyObject; kid: string | undefined }[] = [];
  try {
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      const parsed = JSON.parse(trimmed) as unknown;
      const list = Array.isArray(parsed)
        ? parsed
        : Array.isArray((parsed as { keys?: unknown }).keys)
          ? (parsed as { keys: unknown[] }).keys
          : [parsed];
      for (const item of list as (JsonWebKey & { kid?: unknown })[]) {
        if (typeof item !== 'object' || item === null)
          throw new SigningKeyError('a previous public key is not a JWK object');
        if ('d' in item) throw new SigningKeyError('a previous public key contains private material ("d")');
        inputs.push({
          key: createPublicKey({ key: item, format: 'jwk' }),
          kid: typeof item.kid === 'string' && item.kid ? item.kid : undefined,
        });
      }
    } else {
      const blocks = unescapePem(trimmed).match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
      if (blocks.length === 0) throw new SigningKeyError('no PEM "PUBLIC KEY" block found');
      for (const block of blocks) inputs.push({ key: createPublicKey({ key: block, format: 'pem' }), kid: undefined });
    }
  } catch (err) {
    if (err instanceof SigningKeyError) throw err;
    throw new SigningKeyError('AUTH_JWT_PREVIOUS_PUBLIC_KEYS is neither JWK JSON nor PEM public keys', { cause: err });
  }
  return Promise.all(inputs.map(({ key, kid }) => toPublicJwk(key, algOf(key), kid)));
}

/** A fresh Ed25519 key as PKCS#8 PEM, the format AUTH_JWT_PRIVATE_KEY takes. */
export function generatePrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export async function buildSigningKeys(
  privateKeyText: string,
  previousPublicKeys: string | undefined,
): Promise<SigningKeys> {
  const current = await parsePrivateKey(privateKeyText);
  const previous = previousPublicKeys ? await parsePublicKeys(previousPublicKeys) : [];
  const keys = [current.publicJwk, ...previous.filter((key) => key.kid !== current.kid)];
  return { current, jwks: { keys } };
}

/**
 * The signing keys of this deployment: AUTH_JWT_PRIVATE_KEY in production; in development a key generated
 * once into MALL_DATA_DIR/secrets, so restarts keep issued tokens valid and every local process agrees.
 */
export async function loadSigningKeys(config: Config, settings: AuthConfig, logger?: Logger): Promise<SigningKeys> {
  const privateKeyText = await devSecret(
    config,
    'auth-jwt-private-key.pem',
    settings.jwtPrivateKey,
    generatePrivateKeyPem,
  );
  const keys = await buildSigningKeys(privateKeyText, settings.previousPublicKeys);
  const { kid, alg } = keys.current;
  logger?.info({ kid, alg, published: keys.jwks.keys.length }, 'access-token signing key loaded');
  return keys;
}
