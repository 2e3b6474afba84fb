import {
  type Config,
  defineServiceOperation,
  IdentitySigner,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import { z } from 'zod';

/** What payment needs of an order: whose it is, whether it is payable, and what it costs. */
export interface OrderToPay {
  readonly id: string;
  readonly userId: string;
  readonly status: string;
  readonly total: { readonly amount: number; readonly currency: string };
}

const orderForPayment = defineServiceOperation<{ id: string }, { orderForPayment: OrderToPay | null }>(
  `query OrderForPayment($id: ID!) { orderForPayment(id: $id) { id userId status total { amount currency } } }`,
  z.object({
    orderForPayment: z
      .object({
        id: z.string(),
        userId: z.string(),
        status: z.string(),
        total: z.object({ amount: z.number().int(), currency: z.string() }),
      })
      .nullable(),
  }),
);

/** Asks the order subgraph (its internal `orderForPayment`, signed as payment); null when there is no such order. */
export async function findOrderToPay(
  orders: ServiceClient,
  call: ServiceCallOptions,
  id: string,
): Promise<OrderToPay | null> {
  return (await orderForPayment(orders, call, { id })).orderForPayment;
}

/** The order subgraph's client, signing as `payment` (the only caller its `orderForPayment` accepts). */
export function createOrderClient(config: Config, internalSecret: string): ServiceClient {
  return new ServiceClient({
    url: config.subgraphs.order.url,
    target: 'order',
    signer: new IdentitySigner(internalSecret, 'payment'),
  });
}
