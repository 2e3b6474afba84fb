import { Counter, type Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export interface PeriodicTask {
  /** Stops the schedule and waits for a run in flight. */
  stop(): Promise<void>;
}

const failureCounters = new WeakMap<Registry, Counter<'task'>>();

function failuresIn(registry: Registry): Counter<'task'> {
  let counter = failureCounters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'periodic_task_failures_total',
      help: 'Runs of a periodic task (sweeps, repairs) that failed; the next run tries again',
      labelNames: ['task'] as const,
      registers: [registry],
    });
    failureCounters.set(registry, counter);
  }
  return counter;
}

/**
 * Runs `task` every `intervalMs` on this instance, never two runs at once, until stopped: the safety-net sweeps
 * (order expiry, reservation leases) every subgraph with deadlines needs. A failed run is logged and counted
 * (`periodic_task_failures_total{task}`) and the next one tries again; the timer never keeps the process alive.
 * Several instances may run the same task: the task itself must be safe to overlap (`FOR UPDATE SKIP LOCKED`,
 * conditional updates).
 */
export function startPeriodic(
  name: string,
  intervalMs: number,
  task: () => Promise<unknown>,
  options: { logger: Logger; registry?: Registry },
): PeriodicTask {
  const failures = options.registry ? failuresIn(options.registry) : undefined;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= task()
      .then(() => undefined)
      .catch((err: unknown) => {
        failures?.inc({ task: name });
        options.logger.warn({ err, task: name }, 'periodic task failed; retrying at the next interval');
      })
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
