// The router's token checks against the real auth subgraph's keys: only the access tokens auth issued, as
// issued, get through; every kind of forgery is UNAUTHENTICATED and never reaches a subgraph.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestStack, type TestStack } from '@mall/stack/testing';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT, UnsecuredJWT } from 'jose';

const ME = 'query Me { me { id email roles } }';

describe('access tokens the router refuses (real auth keys, through the router)', () => {
  let stack: TestStack;
  let token: string;
  let claims: Record<string, unknown>;
  let kid: string;
  let sign: (payload: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>;

  before(async () => {
    stack = await startTestStack({ subgraphs: ['user', 'auth'] });
    const registered = await stack.gql<{ register: { accessToken: string } }>(
      'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken } }',
      { input: { email: `forge-${Date.now()}@example.com`, password: 'correct horse battery' } },
    );
    token = registered.body.data!.register.accessToken;
    claims = decodeJwt(token);
    const header = decodeProtectedHeader(token);
    kid = header.kid!;
    // The stack's own development signing key: with it we can mint tokens that are validly signed but wrong.
    const pem = await readFile(join(stack.config.dataDir, 'secrets', 'auth-jwt-private-key.pem'), 'utf8');
    const key = await importPKCS8(pem, header.alg!);
    sign = (payload, extraHeader = {}) =>
      new SignJWT(payload).setProtectedHeader({ alg: header.alg!, kid, ...extraHeader }).sign(key);
  });
  after(() => stack?.close());

  const meWith = (bearer: string) => stack.gql(ME, {}, { token: bearer });
  const assertRefused = async (bearer: string, why: string) => {
    const result = await meWith(bearer);
    assert.equal(
      result.body.errors?.[0]?.extensions?.code,
      'UNAUTHENTICATED',
      `${why}: ${JSON.stringify(result.body)}`,
    );
    assert.equal(result.body.data ?? null, null, `${why}: no data may leak`);
  };

  it('accepts the token auth issued, and a token re-signed with the same claims', async () => {
    assert.equal((await meWith(token)).body.errors, undefined);
    assert.equal((await meWith(await sign(claims))).body.errors, undefined, 'the forging harness itself must be sound');
  });

  it('refuses an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await assertRefused(await sign({ ...claims, iat: now - 1000, exp: now - 60 }), 'expired');
  });

  it('refuses alg: none', async () => {
    const unsigned = new UnsecuredJWT(claims).encode();
    await assertRefused(unsigned, 'alg none');
    // The same with the kid header kept, as an attacker would send it.
    const [, payload] = unsigned.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url');
    await assertRefused(`${header}.${payload}.`, 'alg none with kid');
  });

  it('refuses a wrong issuer and a wrong audience, even when properly signed', async () => {
    await assertRefused(await sign({ ...claims, iss: 'someone-else' }), 'wrong issuer');
    await assertRefused(await sign({ ...claims, aud: 'another-api' }), 'wrong audience');
  });

  it('refuses a tampered payload (roles escalated) under the original signature', async () => {
    const [header, , signature] = token.split('.');
    const escalated = Buffer.from(JSON.stringify({ ...claims, roles: ['CUSTOMER', 'ADMIN'] })).toString('base64url');
    await assertRefused(`${header}.${escalated}.${signature}`, 'tampered payload');
  });

  it('refuses HS256 keyed with the public key (algorithm confusion) and a token from a foreign key', async () => {
    const jwks = (await (await fetch(`${stack.subgraphUrls['auth']}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, unknown>[];
    };
    const publicPem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid })
      .sign(Buffer.from(String(publicPem)));
    await assertRefused(confused, 'HS256 with the public key');
    const foreign = generateKeyPairSync('ed25519').privateKey;
    await assertRefused(
      await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid }).sign(foreign),
      'foreign key, same kid',
    );
  });

  it('refuses garbage and a missing token type', async () => {
    await assertRefused('not-a-jwt', 'garbage');
    const result = await stack.gql(ME, {}, { headers: { authorization: token } });
    assert.equal(result.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', 'Authorization without "Bearer"');
  });
});
