/**
 * The stack child's side of the flash-sale scenario (bench/flashsale-harness.ts), over IPC:
 * - `flashsale:sale { units }`: a product with exactly `units` in stock and a sale of all of them, open now
 *   for an hour, one unit per buyer (through the stack's own router, as the seeded admin);
 * - `flashsale:settled { saleId, timeoutMs }`: waits until no purchase of the sale is PENDING (each grant is
 *   CONFIRMED with its order, or given back), then answers when that was and what the databases hold: the
 *   purchases by status, and the orders the order subgraph made from the sale's purchases.
 */
import { waitFor } from '@mall/events/testing';
import { createLogger, createPrismaClient, decodeId, domainDatabaseUrl } from '@mall/platform';
import type { TestStack } from '@mall/stack/testing';
import { PrismaClient as FlashSalePrisma } from '../../subgraphs/flashsale/data/generated/client.ts';
import { type Caller, createProduct, createSale, signInAdmin } from '../../subgraphs/flashsale/test/helpers.ts';
import { PrismaClient as OrderPrisma } from '../../subgraphs/order/data/generated/client.ts';
import type { Message } from '../lib.ts';

export interface SettledReply extends Message {
  /** Epoch ms when the poll first saw no PENDING purchase. */
  readonly settledAtEpochMs: number;
  readonly purchases: Record<string, number>;
  readonly orders: number;
}

export function flashSaleDesk(stack: TestStack) {
  let admin: Caller | undefined;
  let dbs: { sale: FlashSalePrisma; order: OrderPrisma } | undefined;
  const open = () => {
    const logger = createLogger({ service: 'bench', level: 'silent' });
    // One connection each: this process's subgraphs hold the rest of a smoke run's small Postgres share.
    const options = (name: 'flashsale' | 'order') => ({
      url: domainDatabaseUrl(stack.config, name),
      poolSize: 1,
      logger,
      applicationName: 'bench',
    });
    return {
      sale: createPrismaClient(FlashSalePrisma, options('flashsale')),
      order: createPrismaClient(OrderPrisma, options('order')),
    };
  };

  const handle = async (message: Message): Promise<Message | undefined> => {
    if (message.type === 'flashsale:sale') {
      const units = Number(message['units']);
      admin ??= await signInAdmin(stack);
      const productId = await createProduct(stack, admin, units);
      const sale = await createSale(stack, admin, { productId, quantity: units, priceAmount: 990 });
      return { type: 'flashsale:sale', saleId: sale.id };
    }
    if (message.type === 'flashsale:settled') {
      dbs ??= open();
      const { sale, order } = dbs;
      // The GraphQL id the scenario was given; the databases key by the snowflake inside it.
      const id = decodeId(String(message['saleId']));
      if (id === null) throw new Error(`flashsale:settled: ${String(message['saleId'])} is not a sale id`);
      await waitFor(
        async () => (await sale.flashSalePurchase.count({ where: { flashSaleId: id, status: 'PENDING' } })) === 0,
        {
          timeoutMs: Number(message['timeoutMs'] ?? 120_000),
          intervalMs: 20,
        },
      );
      const settledAtEpochMs = Date.now();
      const rows = await sale.flashSalePurchase.groupBy({ by: ['status'], where: { flashSaleId: id }, _count: true });
      const purchaseIds = (
        await sale.flashSalePurchase.findMany({ where: { flashSaleId: id }, select: { id: true } })
      ).map((p) => p.id);
      return {
        type: 'flashsale:settled',
        settledAtEpochMs,
        purchases: Object.fromEntries(rows.map((r) => [r.status, r._count])),
        orders: await order.order.count({ where: { flashSalePurchaseId: { in: purchaseIds } } }),
      } satisfies SettledReply;
    }
    return undefined;
  };
  return Object.assign(handle, {
    async close() {
      await dbs?.sale.$disconnect();
      await dbs?.order.$disconnect();
    },
  });
}
