import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runSaga, SagaCompensationError, type SagaStep } from '../src/saga.ts';

interface Log {
  readonly entries: string[];
}

function recordingLogger(into: string[]) {
  const at = (level: string) => (fields: object, message: string) => {
    into.push(`${level} ${(fields as { step?: string }).step}: ${message}`);
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

const step = (name: string, behaviour: { fail?: boolean; undoFails?: boolean } = {}): SagaStep<Log> => ({
  name,
  async run(context) {
    if (behaviour.fail) throw new Error(`${name} failed`);
    context.entries.push(`run ${name}`);
  },
  async undo(context) {
    if (behaviour.undoFails) throw new Error(`undo ${name} failed`);
    // Tolerates a step that never ran: undoing nothing is fine.
    context.entries.push(`undo ${name}`);
  },
});

describe('runSaga', () => {
  test('runs every step in order and returns the context', async () => {
    const context = await runSaga([step('a'), step('b')], { entries: [] }, { logger: recordingLogger([]) });
    assert.deepEqual(context.entries, ['run a', 'run b']);
  });

  test('compensates in reverse order, the failed step included, then rethrows its error', async () => {
    const context: Log = { entries: [] };
    const logs: string[] = [];
    await assert.rejects(
      runSaga([step('reserve'), step('pay'), step('order', { fail: true }), step('never')], context, {
        logger: recordingLogger(logs),
      }),
      /order failed/,
    );
    assert.deepEqual(context.entries, ['run reserve', 'run pay', 'undo order', 'undo pay', 'undo reserve']);
    assert.deepEqual(logs, [
      'warn order: saga step failed; compensating',
      'info order: saga step compensated',
      'info pay: saga step compensated',
      'info reserve: saga step compensated',
    ]);
  });

  test('an undo that fails is logged, the others still run, and the caller learns what is left', async () => {
    const context: Log = { entries: [] };
    const logs: string[] = [];
    const error = await runSaga(
      [step('reserve'), step('pay', { undoFails: true }), step('order', { fail: true })],
      context,
      { logger: recordingLogger(logs) },
    ).catch((e: unknown) => e);
    assert.ok(error instanceof SagaCompensationError);
    assert.equal(error.failedStep, 'order');
    assert.deepEqual(error.uncompensated, ['pay']);
    assert.match(String((error.cause as Error).message), /order failed/);
    assert.deepEqual(context.entries, ['run reserve', 'run pay', 'undo order', 'undo reserve']);
    assert.ok(logs.includes('error pay: saga compensation failed'));
  });
});
