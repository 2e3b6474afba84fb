import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../src/errors.ts';
import { decodeCursor, encodeCursor, parsePageArgs, toPage } from '../src/pagination.ts';

/** The fields a BAD_USER_INPUT names. */
function badInputFields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError && err.code === 'BAD_USER_INPUT', String(err));
    return ((err.extensions['problems'] ?? []) as { field: string }[]).map((p) => p.field);
  }
  assert.fail('expected BAD_USER_INPUT');
}

describe('pagination', () => {
  test('cursors round-trip and are opaque base64url of the id', () => {
    const id = 119049795682861056n;
    const cursor = encodeCursor(id);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(cursor, 'base64url').toString(), id.toString());
    assert.equal(decodeCursor(cursor), id);
  });

  test('anything but a cursor we made is rejected', () => {
    for (const bad of [
      '',
      'not base64!',
      Buffer.from('abc').toString('base64url'),
      Buffer.from('-1').toString('base64url'),
      Buffer.from('9'.repeat(20)).toString('base64url'),
      `${encodeCursor(5n)}=`,
    ]) {
      assert.equal(decodeCursor(bad), null, bad);
    }
  });

  test('first defaults to 20 and must be 1–100', () => {
    assert.deepEqual(parsePageArgs({}), { first: 20, after: null });
    assert.deepEqual(parsePageArgs({ first: 100, after: encodeCursor(9n) }), { first: 100, after: 9n });
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ first: 101 })),
      ['first'],
    );
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ first: 0 })),
      ['first'],
    );
    assert.deepEqual(
      badInputFields(() => parsePageArgs({ after: 'garbage' })),
      ['after'],
    );
  });

  test('a page reports more only when the extra row came back', () => {
    const rows = [1n, 2n, 3n].map((id) => ({ id }));
    assert.deepEqual(toPage(rows, 2).pageInfo, { hasNextPage: true, endCursor: encodeCursor(2n) });
    assert.deepEqual(toPage(rows, 3).pageInfo, { hasNextPage: false, endCursor: encodeCursor(3n) });
    assert.deepEqual(toPage([], 3).pageInfo, { hasNextPage: false, endCursor: null });
    assert.deepEqual(
      toPage(rows, 2).edges.map((e) => e.node.id),
      [1n, 2n],
    );
  });
});
