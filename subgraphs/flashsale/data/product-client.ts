import {
  type Config,
  defineServiceOperation,
  IdentitySigner,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import { z } from 'zod';

// The product subgraph's fields flash sales use: the product as the catalog shows it, and its internal stock
// reservation (the sale's id is the reservation's key; the units stay held until the sale is settled).

export interface CatalogProduct {
  readonly id: string;
  readonly name: string;
  readonly currency: string;
  readonly merchantId: string;
}

const productOperation = defineServiceOperation<
  { id: string },
  { product: { id: string; name: string; price: { currency: string }; merchant: { id: string } } | null }
>(
  `query FlashSaleProduct($id: ID!) { product(id: $id) { id name price { currency } merchant { id } } }`,
  z.object({
    product: z
      .object({
        id: z.string(),
        name: z.string(),
        price: z.object({ currency: z.string() }),
        merchant: z.object({ id: z.string() }),
      })
      .nullable(),
  }),
);

const Reservation = z.object({ reservation: z.object({ id: z.string(), status: z.string() }) });
type ReservationReply = z.output<typeof Reservation>;

const reserveOperation = defineServiceOperation<
  { orderId: string; lines: { productId: string; quantity: number }[]; expiresAt: string },
  ReservationReply
>(
  `mutation FlashSaleReserve($orderId: ID!, $lines: [ReservationLineInput!]!, $expiresAt: DateTime) {
     reservation: reserveStock(orderId: $orderId, lines: $lines, expiresAt: $expiresAt) { id status }
   }`,
  Reservation,
);

const releaseOperation = defineServiceOperation<{ orderId: string }, ReservationReply>(
  `mutation FlashSaleRelease($orderId: ID!) { reservation: releaseReservation(orderId: $orderId) { id status } }`,
  Reservation,
);

const settleOperation = defineServiceOperation<{ orderId: string; keepQuantity: number }, ReservationReply>(
  `mutation FlashSaleSettle($orderId: ID!, $keepQuantity: Int!) {
     reservation: settleReservation(orderId: $orderId, keepQuantity: $keepQuantity) { id status }
   }`,
  Reservation,
);

/** Calls the product subgraph as the flashsale service. */
export class ProductClient {
  readonly #client: ServiceClient;

  constructor(config: Config, internalSecret: string) {
    this.#client = new ServiceClient({
      url: config.subgraphs.product.url,
      target: 'product',
      signer: new IdentitySigner(internalSecret, 'flashsale'),
    });
  }

  async product(call: ServiceCallOptions, id: bigint): Promise<CatalogProduct | null> {
    const { product } = await productOperation(this.#client, call, { id: String(id) });
    return (
      product && {
        id: product.id,
        name: product.name,
        currency: product.price.currency,
        merchantId: product.merchant.id,
      }
    );
  }

  /** Takes the sale's units out of the product's stock until `expiresAt` (OUT_OF_STOCK when it has too few). */
  async reserve(call: ServiceCallOptions, saleId: bigint, productId: bigint, quantity: number, expiresAt: Date) {
    await reserveOperation(this.#client, call, {
      orderId: String(saleId),
      lines: [{ productId: String(productId), quantity }],
      expiresAt: expiresAt.toISOString(),
    });
  }

  /** Gives every unit back (the sale could not be recorded). Idempotent. */
  async release(call: ServiceCallOptions, saleId: bigint): Promise<void> {
    await releaseOperation(this.#client, call, { orderId: String(saleId) });
  }

  /** The sale ended: `sold` units are sold, the rest return to the shelf. Exactly once, however often called. */
  async settle(call: ServiceCallOptions, saleId: bigint, sold: number): Promise<void> {
    await settleOperation(this.#client, call, { orderId: String(saleId), keepQuantity: sold });
  }
}
