import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configSection, loadConfig } from '@mall/platform';
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import { authConfig } from '../config.ts';
import { signAccessToken } from '../data/access-tokens.ts';
import {
  buildSigningKeys,
  generatePrivateKeyPem,
  loadSigningKeys,
  parsePrivateKey,
  parsePublicKeys,
  SigningKeyError,
} from '../data/signing-keys.ts';

const settings = { issuer: 'mall-auth-test', audience: 'mall-api-test', ttlSeconds: 600 };

function p256Pem(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

describe('signing keys', () => {
  it('reads an Ed25519 PKCS#8 PEM as EdDSA, with the RFC 7638 thumbprint as kid', async () => {
    const pem = generatePrivateKeyPem();
    const key = await parsePrivateKey(pem);
    assert.equal(key.alg, 'EdDSA');
    assert.match(key.kid, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await parsePrivateKey(pem)).kid, key.kid, 'same key, same kid, on every instance');
    assert.deepEqual(Object.keys(key.publicJwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(key.publicJwk.crv, 'Ed25519');
  });

  it('reads a PEM whose newlines arrive escaped on one line', async () => {
    const pem = generatePrivateKeyPem();
    assert.equal((await parsePrivateKey(pem.replaceAll('\n', '\\n'))).kid, (await parsePrivateKey(pem)).kid);
  });

  it('reads a P-256 key as ES256', async () => {
    const key = await parsePrivateKey(p256Pem().privatePem);
    assert.equal(key.alg, 'ES256');
    assert.equal(key.publicJwk.crv, 'P-256');
    assert.ok(key.publicJwk.y);
  });

  it('reads a private JWK and keeps its kid', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'key-2026-11' };
    const key = await parsePrivateKey(JSON.stringify(jwk));
    assert.equal(key.kid, 'key-2026-11');
    assert.equal(key.publicJwk.kid, 'key-2026-11');
    assert.equal('d' in key.publicJwk, false, 'the published JWK must not carry the private part');
  });

  it('refuses RSA keys, public JWKs and garbage', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    await assert.rejects(parsePrivateKey(rsa), SigningKeyError);
    const publicOnly = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    await assert.rejects(parsePrivateKey(JSON.stringify(publicOnly)), /no private part/);
    await assert.rejects(parsePrivateKey('not a key'), SigningKeyError);
  });

  it('publishes retired public keys from PEM blocks or JWK JSON, never private material', async () => {
    const a = p256Pem();
    const b = generateKeyPairSync('ed25519').publicKey;
    const fromPem = await parsePublicKeys(`${a.publicPem}\n${b.export({ format: 'pem', type: 'spki' })}`);
    assert.deepEqual(
      fromPem.map((k) => k.alg),
      ['ES256', 'EdDSA'],
    );
    const fromJwks = await parsePublicKeys(JSON.stringify({ keys: [{ ...b.export({ format: 'jwk' }), kid: 'old' }] }));
    assert.deepEqual(
      fromJwks.map((k) => k.kid),
      ['old'],
    );
    assert.equal(fromJwks[0]!.kid, 'old');
    const privateJwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    await assert.rejects(parsePublicKeys(JSON.stringify([privateJwk])), /private material/);
    await assert.rejects(
      parsePublicKeys('-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'),
      SigningKeyError,
    );
  });

  it('lists the current key first and drops a retired copy of it', async () => {
    const pem = generatePrivateKeyPem();
    const current = await parsePrivateKey(pem);
    const retired = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    const keys = await buildSigningKeys(pem, JSON.stringify([retired, current.publicJwk]));
    assert.equal(keys.jwks.keys.length, 2);
    assert.equal(keys.jwks.keys[0]!.kid, current.kid);
  });
});

describe('loadSigningKeys', () => {
  it('generates one development key into MALL_DATA_DIR and keeps using it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'auth-keys-'));
    try {
      const config = loadConfig({ NODE_ENV: 'development', MALL_DATA_DIR: dataDir });
      const first = await loadSigningKeys(config, configSection(config, authConfig));
      const second = await loadSigningKeys(config, configSection(config, authConfig));
      assert.equal(second.current.kid, first.current.kid, 'a restart keeps issued tokens verifiable');
      assert.match(await readFile(join(dataDir, 'secrets', 'auth-jwt-private-key.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('uses the configured key and extra published keys, generating nothing', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'auth-keys-'));
    try {
      const pem = generatePrivateKeyPem();
      const retired = p256Pem().publicPem;
      const config = loadConfig({
        NODE_ENV: 'development',
        MALL_DATA_DIR: dataDir,
        AUTH_JWT_PRIVATE_KEY: pem,
        AUTH_JWT_PREVIOUS_PUBLIC_KEYS: retired,
      });
      const keys = await loadSigningKeys(config, configSection(config, authConfig));
      assert.equal(keys.current.kid, (await parsePrivateKey(pem)).kid);
      assert.deepEqual(
        keys.jwks.keys.map((k) => k.alg),
        ['EdDSA', 'ES256'],
      );
      await assert.rejects(readFile(join(dataDir, 'secrets', 'auth-jwt-private-key.pem')), { code: 'ENOENT' });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('access tokens', () => {
  it('carry sub, roles, sid, jti, iat, exp, iss, aud and a kid the JWKS resolves', async () => {
    const keys = await buildSigningKeys(generatePrivateKeyPem(), undefined);
    const now = new Date();
    const issued = await signAccessToken(
      keys.current,
      settings,
      { userId: '42', roles: ['CUSTOMER', 'ADMIN'], sessionId: '7' },
      now,
    );
    assert.equal(issued.expiresIn, 600);

    const header = decodeProtectedHeader(issued.token);
    assert.equal(header.kid, keys.current.kid);
    assert.equal(header.alg, 'EdDSA');

    const { payload } = await jwtVerify(issued.token, createLocalJWKSet({ keys: keys.jwks.keys as JWK[] }), {
      issuer: settings.issuer,
      audience: settings.audience,
      algorithms: ['EdDSA', 'ES256'],
    });
    assert.equal(payload.sub, '42');
    assert.deepEqual(payload['roles'], ['CUSTOMER', 'ADMIN']);
    assert.equal(payload['sid'], '7');
    assert.equal(payload.jti, issued.jti);
    assert.equal(payload.iat, Math.floor(now.getTime() / 1000));
    assert.equal(payload.exp, issued.expiresAt);
    assert.equal(payload.exp! - payload.iat!, 600);
  });

  it('gets a fresh jti every time', async () => {
    const keys = await buildSigningKeys(generatePrivateKeyPem(), undefined);
    const input = { userId: '1', roles: ['CUSTOMER'] as const, sessionId: '2' };
    const issue = () => signAccessToken(keys.current, settings, input, new Date());
    assert.notEqual((await issue()).jti, (await issue()).jti);
  });

  it("do not verify against another deployment's JWKS", async () => {
    const ours = await buildSigningKeys(generatePrivateKeyPem(), undefined);
    const theirs = await buildSigningKeys(generatePrivateKeyPem(), undefined);
    const { token } = await signAccessToken(
      ours.current,
      settings,
      { userId: '1', roles: ['CUSTOMER'], sessionId: '2' },
      new Date(),
    );
    await assert.rejects(
      jwtVerify(token, createLocalJWKSet({ keys: theirs.jwks.keys as JWK[] }), {
        issuer: settings.issuer,
        audience: settings.audience,
      }),
    );
  });

  it('sign with ES256 when the key is P-256', async () => {
    const keys = await buildSigningKeys(p256Pem().privatePem, undefined);
    const { token } = await signAccessToken(
      keys.current,
      settings,
      { userId: '1', roles: ['CUSTOMER'], sessionId: '2' },
      new Date(),
    );
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    await jwtVerify(token, createLocalJWKSet({ keys: keys.jwks.keys as JWK[] }), {
      issuer: settings.issuer,
      audience: settings.audience,
    });
  });
});
