import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  anonymous,
  decodeIdOrNotFound,
  type Identity,
  ownsOrAdmin,
  type Role,
  requireCallerId,
  requireOwnerOrAdmin,
} from '../src/access.ts';
import { AppError } from '../src/errors.ts';

const user = (userId: string, roles: Role[] = ['CUSTOMER']): Identity => ({ ...anonymous('req-1'), userId, roles });

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return err.code;
  }
  assert.fail('expected an AppError');
}

describe('access: ids and ownership', () => {
  test('requireCallerId: the caller as a row id, UNAUTHENTICATED when there is none', () => {
    assert.equal(requireCallerId(user('42')), 42n);
    assert.equal(
      codeOf(() => requireCallerId(anonymous('r'))),
      'UNAUTHENTICATED',
    );
    assert.equal(
      codeOf(() => requireCallerId(user('not-an-id'))),
      'UNAUTHENTICATED',
    );
  });

  test('decodeIdOrNotFound: a malformed id is NOT_FOUND naming the entity', () => {
    assert.equal(decodeIdOrNotFound('119049795682861056', 'Order'), 119049795682861056n);
    for (const bad of ['', 'abc', '-1', '0042', '1e3', '9'.repeat(20)]) {
      assert.throws(() => decodeIdOrNotFound(bad, 'Order'), { code: 'NOT_FOUND', message: 'Order not found' }, bad);
    }
  });

  test('ownsOrAdmin: the owner or an admin, by the token unless the caller says otherwise', () => {
    assert.equal(ownsOrAdmin(user('7'), 7n), true);
    assert.equal(ownsOrAdmin(user('7'), 8n), false);
    assert.equal(ownsOrAdmin(anonymous('r'), 7n), false);
    assert.equal(ownsOrAdmin(user('1', ['CUSTOMER', 'ADMIN']), 8n), true);
    // A demoted admin whose token still says ADMIN: the owning service's answer wins.
    assert.equal(ownsOrAdmin(user('1', ['CUSTOMER', 'ADMIN']), 8n, false), false);
    assert.equal(ownsOrAdmin(user('8'), 8n, false), true, 'owners need no role');
  });

  test("requireOwnerOrAdmin: someone else's row is NOT_FOUND, not FORBIDDEN", () => {
    requireOwnerOrAdmin(user('7'), 7n, 'Order');
    requireOwnerOrAdmin(user('1', ['ADMIN']), 7n, 'Order');
    assert.equal(
      codeOf(() => requireOwnerOrAdmin(user('8'), 7n, 'Order')),
      'NOT_FOUND',
    );
    assert.equal(
      codeOf(() => requireOwnerOrAdmin(user('1', ['ADMIN']), 7n, 'Order', false)),
      'NOT_FOUND',
    );
    assert.equal(
      codeOf(() => requireOwnerOrAdmin(anonymous('r'), 7n, 'Order')),
      'UNAUTHENTICATED',
    );
  });
});
