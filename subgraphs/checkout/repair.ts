import type { Logger } from '@mall/platform';
import type { CheckoutService } from './service.ts';

/**
 * Repairs checkouts a crash left half done: once before the subgraph serves (a restarted instance finishes or
 * undoes its own at once), then every `intervalSeconds` (another instance's, once abandoned). A run that
 * overruns its interval is not started again until it ends.
 */
export async function startRepair(
  checkouts: CheckoutService,
  options: { intervalSeconds: number; logger: Logger },
): Promise<{ stop(): Promise<void> }> {
  const repair = async () => {
    try {
      const resolved = await checkouts.repair();
      if (resolved) options.logger.info({ resolved }, 'repaired checkouts left by a crash');
    } catch (err) {
      options.logger.error({ err }, 'checkout repair failed');
    }
  };
  await repair();
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= repair().finally(() => {
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
