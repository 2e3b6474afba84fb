import type { Logger } from '@mall/platform';
import type { FlashSaleService } from './service.ts';

/**
 * Settles ended sales every `intervalSeconds` on every instance; settlement is exactly-once on both sides
 * (frozen sold count, the product reservation's HELD → COMMITTED), so instances may overlap. The same round
 * gives back running sales' stranded grants (`reclaimStranded`, exactly-once through the database as well). A round that
 * overruns the interval is not started again until it ends. Returns the stop function.
 */
export function startSettlement(
  flashSales: FlashSaleService,
  intervalSeconds: number,
  logger: Logger,
): () => Promise<void> {
  let round: Promise<void> | undefined;
  const timer = setInterval(() => {
    round ??= flashSales
      .settleEnded()
      .then((settled) => {
        if (settled) logger.info({ settled }, 'flash sales settled: unsold units back in stock');
      })
      .then(async () => {
        await flashSales.reclaimStranded();
      })
      .catch((err: unknown) => logger.warn({ err }, 'flash-sale settlement failed; retrying next round'))
      .finally(() => {
        round = undefined;
      });
  }, intervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await round;
  };
}
