import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { createLogger } from '../src/logger.ts';
import { startPeriodic } from '../src/periodic.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

describe('startPeriodic', () => {
  it('never runs two at once, counts failures and keeps going, and stop waits for the run in flight', async () => {
    const registry = new Registry();
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let finished = 0;
    const task = startPeriodic(
      'sweep',
      5,
      async () => {
        runs++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await delay(20);
        running--;
        finished++;
        if (runs === 1) throw new Error('first run fails');
      },
      { logger, registry },
    );
    while (runs < 3) await delay(5);
    await task.stop();
    assert.equal(maxRunning, 1, 'runs never overlap although the interval is shorter than a run');
    assert.equal(finished, runs, 'stop waited for the run in flight');
    const after = runs;
    await delay(30);
    assert.equal(runs, after, 'nothing runs after stop');
    const metric = await registry.getSingleMetricAsString('periodic_task_failures_total');
    assert.match(metric, /periodic_task_failures_total\{task="sweep"\} 1/);
  });
});
