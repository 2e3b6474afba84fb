import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessTokenClaims } from '../domain/access-tokens.ts';

describe('access-token claims', () => {
  const settings = { issuer: 'mall-auth', audience: 'mall', ttlSeconds: 900 };

  it('names the user, roles, session and token, and expires ttlSeconds after issue', () => {
    const roles = ['CUSTOMER', 'ADMIN'] as const;
    const claims = accessTokenClaims(
      { userId: '42', roles, sessionId: '7' },
      settings,
      'jti-1',
      new Date('2026-11-25T00:00:00.999Z'),
    );
    assert.deepEqual(claims, {
      sub: '42',
      roles: ['CUSTOMER', 'ADMIN'],
      sid: '7',
      jti: 'jti-1',
      iat: 1795564800,
      exp: 1795564800 + 900,
      iss: 'mall-auth',
      aud: 'mall',
    });
    assert.notEqual(claims.roles, roles, 'the claims hold their own copy of the roles');
  });
});
