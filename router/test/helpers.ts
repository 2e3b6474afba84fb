// Shared test setup: isolated Redis prefixes, locally generated signing keys, and a JWKS endpoint that a
// test can rotate, standing in for the auth subgraph.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deleteKeys } from '@mall/platform/testing';
import { Redis } from 'ioredis';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';
export const ISSUER = 'mall-auth';
export const AUDIENCE = 'mall-api';

export function uniquePrefix(label: string): string {
  return `test:router:${label}:${randomUUID()}:`;
}

export function prefixedRedis(prefix: string): Redis {
  return new Redis(REDIS_URL, { keyPrefix: prefix, maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeys(redis, prefix);
  } finally {
    await redis.quit();
  }
}

export interface TestSigningKey {
  readonly kid: string;
  readonly alg: 'ES256' | 'EdDSA';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function generateSigningKey(
  alg: 'ES256' | 'EdDSA',
  kid = `${alg}-${randomUUID()}`,
): Promise<TestSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface TokenOptions {
  readonly sub?: string;
  readonly roles?: readonly string[];
  readonly sid?: string;
  readonly jti?: string;
  /** Unix seconds; defaults to now. */
  readonly iat?: number;
  /** Unix seconds; defaults to iat + 900. */
  readonly exp?: number;
  readonly iss?: string;
  readonly aud?: string;
  /** Claims to leave out entirely (e.g. `jti`). */
  readonly omit?: readonly (keyof JWTPayload | 'roles' | 'sid')[];
}

/** An access token shaped like auth's: `sub`, `roles`, `sid`, `jti`, `iat`, `exp`, `iss`, `aud`, `kid` header. */
export function signAccessToken(key: TestSigningKey, options: TokenOptions = {}): Promise<string> {
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  const claims: JWTPayload & Record<string, unknown> = {
    sub: options.sub ?? 'user-1',
    roles: [...(options.roles ?? ['CUSTOMER'])],
    sid: options.sid ?? `sid-${randomUUID()}`,
    jti: options.jti ?? randomUUID(),
    iat,
    exp: options.exp ?? iat + 900,
    iss: options.iss ?? ISSUER,
    aud: options.aud ?? AUDIENCE,
  };
  for (const name of options.omit ?? []) delete claims[name];
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

export interface JwksServer {
  /** Base URL; the JWKS is at `${url}/.well-known/jwks.json`, and `${url}/graphql` stands for auth's URL. */
  readonly url: string;
  /** How many times the key set was fetched. */
  readonly fetches: number;
  setKeys(keys: readonly JWK[]): void;
  /** Makes the endpoint answer 503, as an auth subgraph that is down would. */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

export async function startJwksServer(keys: readonly JWK[]): Promise<JwksServer> {
  let current = [...keys];
  let fetches = 0;
  let down = false;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    fetches += 1;
    if (down) return void res.writeHead(503).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: current }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get fetches() {
      return fetches;
    },
    setKeys(next) {
      current = [...next];
    },
    setDown(value) {
      down = value;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
