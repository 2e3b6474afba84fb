import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../src/errors.ts';
import { defineStateMachine, type Step } from '../src/fsm.ts';

type Light = 'RED' | 'GREEN' | 'BROKEN';
const lights = defineStateMachine<Light, 'go' | 'stop' | 'break', { readonly poweredOn: boolean }>('Light', {
  go: { from: ['RED'], to: 'GREEN', guard: (c) => (c.poweredOn ? null : 'The light has no power') },
  stop: { from: ['GREEN'], to: 'RED' },
  break: { from: ['RED', 'GREEN'], to: 'BROKEN' },
});
const on = { poweredOn: true };

function invalid(error: unknown, extensions: Record<string, unknown>): boolean {
  assert.ok(error instanceof AppError);
  assert.equal(error.code, 'INVALID_STATE');
  assert.deepEqual({ ...error.extensions, code: undefined }, { ...extensions, code: undefined });
  return true;
}

describe('defineStateMachine', () => {
  test('plans the transitions of its table and refuses every other', () => {
    assert.deepEqual(lights.plan('go', 'RED', on), { command: 'go', from: 'RED', to: 'GREEN' });
    assert.deepEqual(lights.plan('break', 'GREEN', on), { command: 'break', from: 'GREEN', to: 'BROKEN' });
    assert.throws(
      () => lights.plan('stop', 'RED', on),
      (e) => invalid(e, { status: 'RED', command: 'stop' }),
    );
    assert.throws(() => lights.plan('break', 'BROKEN', on), /Light is BROKEN; break needs RED or GREEN/);
    assert.equal(lights.can('stop', 'GREEN'), true);
    assert.equal(lights.can('go', 'BROKEN'), false);
  });

  test('a guard refuses with its own message', () => {
    assert.throws(
      () => lights.plan('go', 'RED', { poweredOn: false }),
      (e) => invalid(e, { status: 'RED', command: 'go' }) && (e as Error).message === 'The light has no power',
    );
  });

  test('apply records only after the conditional write won, and reports a lost race as null', async () => {
    const recorded: Step<Light, string>[] = [];
    const writes: string[] = [];
    const effects = (wins: boolean) => ({
      compareAndSet: async (from: Light, to: Light) => {
        writes.push(`${from}->${to}`);
        return wins;
      },
      record: async (step: Step<Light, string>) => {
        recorded.push(step);
      },
    });
    assert.deepEqual(await lights.apply('stop', 'GREEN', on, effects(true)), {
      command: 'stop',
      from: 'GREEN',
      to: 'RED',
    });
    assert.equal(await lights.apply('stop', 'GREEN', on, effects(false)), null);
    await assert.rejects(lights.apply('stop', 'RED', on, effects(true)), AppError);
    assert.deepEqual(writes, ['GREEN->RED', 'GREEN->RED']);
    assert.deepEqual(recorded, [{ command: 'stop', from: 'GREEN', to: 'RED' }]);
  });
});
