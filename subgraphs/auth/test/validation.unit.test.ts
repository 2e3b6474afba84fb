import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@mall/platform';
import { LoginInput, parseInput, RegisterInput } from '../domain/validation.ts';

function problemsOf(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, 'BAD_USER_INPUT');
    return err.extensions['problems'] as { field: string; message: string }[];
  }
  assert.fail('expected BAD_USER_INPUT');
}

describe('RegisterInput', () => {
  it('normalizes the email and a blank name', () => {
    assert.deepEqual(
      parseInput(RegisterInput, { email: '  Ada@Example.COM ', password: 'correct horse', name: '   ' }),
      {
        email: 'ada@example.com',
        password: 'correct horse',
        name: null,
      },
    );
    assert.equal(parseInput(RegisterInput, { email: 'a@b.co', password: '12345678' }).name, null);
    assert.equal(parseInput(RegisterInput, { email: 'a@b.co', password: '12345678', name: ' Ada ' }).name, 'Ada');
  });

  it('reports every bad field at once', () => {
    const problems = problemsOf(() =>
      parseInput(RegisterInput, { email: '', password: 'short', name: 'x'.repeat(10_240) }),
    );
    assert.deepEqual(problems.map((p) => p.field).sort(), ['email', 'name', 'password']);
  });

  it('bounds the password to 8–128 characters', () => {
    assert.deepEqual(
      problemsOf(() => parseInput(RegisterInput, { email: 'a@b.co', password: '1234567' })).map((p) => p.field),
      ['password'],
    );
    assert.deepEqual(
      problemsOf(() => parseInput(RegisterInput, { email: 'a@b.co', password: 'p'.repeat(129) })).map((p) => p.field),
      ['password'],
    );
    assert.equal(parseInput(RegisterInput, { email: 'a@b.co', password: 'p'.repeat(128) }).password.length, 128);
  });

  it('refuses malformed and oversized emails', () => {
    for (const email of ['not-an-email', 'a@', '@b.co', `${'a'.repeat(250)}@b.co`]) {
      assert.deepEqual(
        problemsOf(() => parseInput(RegisterInput, { email, password: '12345678' })).map((p) => p.field),
        ['email'],
        email,
      );
    }
  });
});

describe('LoginInput', () => {
  it('requires both fields but no password policy', () => {
    assert.deepEqual(parseInput(LoginInput, { email: 'A@B.co', password: 'x' }), { email: 'a@b.co', password: 'x' });
    assert.deepEqual(
      problemsOf(() => parseInput(LoginInput, { email: '', password: '' }))
        .map((p) => p.field)
        .sort(),
      ['email', 'password'],
    );
  });

  it('refuses a huge password before it reaches argon2', () => {
    assert.deepEqual(
      problemsOf(() => parseInput(LoginInput, { email: 'a@b.co', password: 'p'.repeat(10_240) })).map((p) => p.field),
      ['password'],
    );
  });
});
