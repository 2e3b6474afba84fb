import type { ConsumeOutcome } from '@mall/events';
import type { ReservationLine } from '../domain/stock.ts';
import type { InventoryService } from '../inventory.ts';

/**
 * The product cache forgets what a consumer's handler changed once that event's transaction committed
 * (onProcessed), never before: a read between an early invalidation and the commit would cache the old stock
 * again. Handlers `remember` their lines by event id; a rolled-back event's lines are dropped.
 */
export function invalidateAfterCommit(inventory: InventoryService) {
  const pending = new Map<string, readonly ReservationLine[]>();
  return {
    remember(eventId: string, lines: readonly ReservationLine[]): void {
      pending.set(eventId, lines);
    },
    onProcessed(outcome: ConsumeOutcome): void {
      const lines = outcome.event && pending.get(outcome.event.id);
      if (!outcome.event || !lines) return;
      pending.delete(outcome.event.id);
      if (outcome.status === 'processed') void inventory.invalidateLines(lines);
    },
  };
}
