import type { Logger } from '@mall/platform';
import { Counter, type Registry } from 'prom-client';
import type { InventoryService } from './inventory.ts';

/**
 * Releases reservations whose lease ran out, every `intervalSeconds` on every instance (SKIP LOCKED keeps
 * instances from releasing the same one; the HELD → RELEASED transition keeps any from releasing twice). A
 * sweep that overruns its interval is not started again until it ends.
 */
export function startLeaseSweep(
  inventory: InventoryService,
  options: { intervalSeconds: number; logger: Logger; registry: Registry },
): { stop(): Promise<void> } {
  const failures = new Counter({
    name: 'product_lease_sweep_failures_total',
    help: 'Reservation lease sweeps that failed (retried at the next interval)',
    registers: [options.registry],
  });
  let running: Promise<void> | undefined;
  const sweep = async () => {
    try {
      const released = await inventory.releaseExpired();
      if (released) options.logger.info({ released }, 'released reservations whose lease expired');
    } catch (err) {
      failures.inc();
      options.logger.error({ err }, 'reservation lease sweep failed');
    }
  };
  const timer = setInterval(() => {
    running ??= sweep().finally(() => {
      running = undefined;
    });
  }, options.intervalSeconds * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
