import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { anonymous, type Identity } from '@mall/platform';
import { badInputFields } from '@mall/platform/testing';
import { parseOptions } from '@node-rs/argon2';
import { DEFAULT_PASSWORD_POLICY, PasswordHasher } from '../data/passwords.ts';
import { canRead } from '../domain/access.ts';
import {
  assignRole,
  effectiveChanges,
  mayDelete,
  parseNewAccount,
  parseProfileChanges,
  parseUserChanges,
  revokeRole,
  tombstoneEmail,
  type User,
} from '../domain/user.ts';

const user = (overrides: Partial<User> = {}): User => ({
  id: 42n,
  email: 'ada@example.com',
  name: 'Ada',
  roles: ['CUSTOMER'],
  status: 'ACTIVE',
  createdAt: new Date('2026-11-01T00:00:00Z'),
  ...overrides,
});

describe('account validation', () => {
  test('normalizes the email and trims the name', () => {
    assert.deepEqual(parseNewAccount({ email: '  Ada@Example.COM ', password: 'correct horse', name: '  Ada  ' }), {
      email: 'ada@example.com',
      password: 'correct horse',
      name: 'Ada',
    });
  });

  test('a blank or missing name is no name', () => {
    assert.equal(parseNewAccount({ email: 'a@example.com', password: '12345678', name: '   ' }).name, null);
    assert.equal(parseNewAccount({ email: 'a@example.com', password: '12345678' }).name, null);
  });

  test('empty email, short password and a 10 KB name are each BAD_USER_INPUT naming the field', () => {
    assert.deepEqual(
      badInputFields(() => parseNewAccount({ email: '', password: '12345678' })),
      ['email'],
    );
    assert.deepEqual(
      badInputFields(() => parseNewAccount({ email: 'a@example.com', password: 'short' })),
      ['password'],
    );
    assert.deepEqual(
      badInputFields(() => parseNewAccount({ email: 'a@example.com', password: '12345678', name: 'x'.repeat(10_240) })),
      ['name'],
    );
  });

  test('reports every problem at once', () => {
    assert.deepEqual(
      badInputFields(() =>
        parseNewAccount({ email: 'not-an-email', password: 'x'.repeat(129), name: 'x'.repeat(101) }),
      ),
      ['email', 'name', 'password'],
    );
  });

  test('password length bounds are 8 and 128', () => {
    assert.ok(parseNewAccount({ email: 'a@example.com', password: 'x'.repeat(8) }));
    assert.ok(parseNewAccount({ email: 'a@example.com', password: 'x'.repeat(128) }));
    assert.deepEqual(
      badInputFields(() => parseNewAccount({ email: 'a@example.com', password: 'x'.repeat(7) })),
      ['password'],
    );
  });

  test('profile and admin updates: absent leaves alone, blank name clears, null email is no change', () => {
    assert.deepEqual(parseProfileChanges({}), {});
    assert.deepEqual(parseProfileChanges({ name: ' ' }), { name: null });
    assert.deepEqual(parseUserChanges({ name: 'Grace', email: ' GRACE@example.com' }), {
      name: 'Grace',
      email: 'grace@example.com',
    });
    assert.deepEqual(parseUserChanges({ email: null }), {});
    assert.deepEqual(
      badInputFields(() => parseProfileChanges({ name: 'x'.repeat(10_240) })),
      ['name'],
    );
    assert.deepEqual(
      badInputFields(() => parseUserChanges({ email: '' })),
      ['email'],
    );
  });

  test('effective changes drop what would not change', () => {
    assert.deepEqual(effectiveChanges(user(), { name: 'Ada', email: 'ada@example.com' }), {});
    assert.deepEqual(effectiveChanges(user(), { name: null }), { name: null });
    assert.deepEqual(effectiveChanges(user(), { email: 'new@example.com' }), { email: 'new@example.com' });
  });

  test('tombstones are unique per account and undeliverable', () => {
    assert.equal(tombstoneEmail(42n), 'deleted-42@deleted.invalid');
    assert.notEqual(tombstoneEmail(42n), tombstoneEmail(43n));
  });
});

describe('role rules', () => {
  test('assigning keeps the declared role order and is idempotent', () => {
    assert.deepEqual(assignRole(['CUSTOMER', 'ADMIN'], 'MERCHANT'), {
      kind: 'changed',
      roles: ['CUSTOMER', 'MERCHANT', 'ADMIN'],
    });
    assert.deepEqual(assignRole(['CUSTOMER', 'ADMIN'], 'ADMIN'), { kind: 'unchanged' });
  });

  test('CUSTOMER can never be revoked', () => {
    assert.deepEqual(revokeRole(['CUSTOMER', 'ADMIN'], 'CUSTOMER', 5), {
      kind: 'refused',
      reason: 'CUSTOMER_IS_PERMANENT',
    });
  });

  test('the last admin keeps ADMIN; with another admin it can go', () => {
    assert.deepEqual(revokeRole(['CUSTOMER', 'ADMIN'], 'ADMIN', 0), { kind: 'refused', reason: 'LAST_ADMIN' });
    assert.deepEqual(revokeRole(['CUSTOMER', 'ADMIN'], 'ADMIN', 1), { kind: 'changed', roles: ['CUSTOMER'] });
    // Other roles of the last admin are not protected.
    assert.deepEqual(revokeRole(['CUSTOMER', 'MERCHANT', 'ADMIN'], 'MERCHANT', 0), {
      kind: 'changed',
      roles: ['CUSTOMER', 'ADMIN'],
    });
  });

  test('revoking a role the user lacks changes nothing', () => {
    assert.deepEqual(revokeRole(['CUSTOMER'], 'ADMIN', 0), { kind: 'unchanged' });
  });

  test('the last admin cannot be deleted; anyone else can', () => {
    assert.equal(mayDelete(user({ roles: ['CUSTOMER', 'ADMIN'] }), 0), false);
    assert.equal(mayDelete(user({ roles: ['CUSTOMER', 'ADMIN'] }), 1), true);
    assert.equal(mayDelete(user(), 0), true);
  });
});

describe('access', () => {
  const caller = (userId: string | null, roles: Identity['roles'] = ['CUSTOMER'], issuer = 'router'): Identity => ({
    ...anonymous('r', issuer),
    userId,
    roles,
  });

  test('owner, current admin and peer services may read an account; nobody else', () => {
    assert.equal(canRead(caller('42'), 42n, false), true);
    assert.equal(canRead(caller('7', ['CUSTOMER', 'ADMIN']), 42n, true), true);
    assert.equal(canRead(caller(null, [], 'auth'), 42n, false), true);
    assert.equal(canRead(caller('7'), 42n, false), false);
    assert.equal(canRead(caller('7', ['CUSTOMER', 'MERCHANT']), 42n, false), false);
    assert.equal(canRead(caller(null, []), 42n, false), false);
  });
});

describe('passwords', () => {
  const hasher = new PasswordHasher();

  test('hashes with argon2id at the configured cost', async () => {
    const hashed = await hasher.hash('correct horse battery staple');
    assert.match(hashed, /^\$argon2id\$/);
    const options = parseOptions(hashed);
    assert.deepEqual(
      { memoryCost: options.memoryCost, timeCost: options.timeCost, parallelism: options.parallelism },
      { ...DEFAULT_PASSWORD_POLICY },
    );
    assert.equal(await hasher.verify(hashed, 'correct horse battery staple'), true);
    assert.equal(await hasher.verify(hashed, 'correct horse battery stapler'), false);
  });

  test('an unreadable hash and an unknown account are simply no match', async () => {
    assert.equal(await hasher.verify('!', 'anything'), false);
    assert.equal(await hasher.verifyNothing('anything'), false);
  });
});
