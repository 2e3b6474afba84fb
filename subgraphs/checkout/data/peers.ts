// The owners' internal (@inaccessible) fields checkout calls, each declared once with the shape of its reply.
import {
  type Config,
  defineServiceOperation,
  IdentitySigner,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import { z } from 'zod';
import type { CartLine, CatalogProduct, PricedLine } from '../domain/checkout.ts';

export interface Peers {
  readonly cart: ServiceClient;
  readonly product: ServiceClient;
  readonly order: ServiceClient;
}

/** Clients of cart, product and order, signed as `checkout`. */
export function createPeers(config: Config, internalSecret: string): Peers {
  const signer = new IdentitySigner(internalSecret, 'checkout');
  const client = (target: 'cart' | 'product' | 'order') =>
    new ServiceClient({ url: config.subgraphs[target].url, target, signer });
  return { cart: client('cart'), product: client('product'), order: client('order') };
}

const checkoutCartOperation = defineServiceOperation<{ userId: string }, { checkoutCart: { lines: CartLine[] } }>(
  `query CheckoutCart($userId: ID!) { checkoutCart(userId: $userId) { userId lines { productId quantity } } }`,
  z.object({
    checkoutCart: z.object({ lines: z.array(z.object({ productId: z.string(), quantity: z.number().int() })) }),
  }),
);

/** The product fields checkout prices from, selected by both product calls and parsed by `Product`. */
const PRODUCT_FIELDS = 'id name active deleted price { amount currency }';
const Product = z.object({
  id: z.string(),
  name: z.string(),
  active: z.boolean(),
  deleted: z.boolean(),
  price: z.object({ amount: z.number().int(), currency: z.string() }),
});

const productsByIdsOperation = defineServiceOperation<
  { ids: readonly string[] },
  { productsByIds: (CatalogProduct | null)[] }
>(
  `query ProductsByIds($ids: [ID!]!) { productsByIds(ids: $ids) { ${PRODUCT_FIELDS} } }`,
  z.object({ productsByIds: z.array(Product.nullable()) }),
);

const Reservation = z.object({ id: z.string(), status: z.string() });

const reserveStockOperation = defineServiceOperation<
  { orderId: string; lines: readonly CartLine[] },
  { reserveStock: { lines: { productId: string; product: CatalogProduct | null }[] } }
>(
  `mutation ReserveStock($orderId: ID!, $lines: [ReservationLineInput!]!) {
     reserveStock(orderId: $orderId, lines: $lines) {
       lines { productId product { ${PRODUCT_FIELDS} } }
     }
   }`,
  z.object({
    reserveStock: z.object({ lines: z.array(z.object({ productId: z.string(), product: Product.nullable() })) }),
  }),
);

const releaseReservationOperation = defineServiceOperation<
  { orderId: string },
  { releaseReservation: z.infer<typeof Reservation> }
>(
  `mutation ReleaseReservation($orderId: ID!) { releaseReservation(orderId: $orderId) { id status } }`,
  z.object({ releaseReservation: Reservation }),
);

/** placeOrder's input: the order id chosen before reserving, the priced lines, the address and note. */
export interface OrderToPlace {
  readonly orderId: string;
  readonly userId: string;
  readonly lines: readonly PricedLine[];
  readonly shippingAddress: Readonly<Record<string, string | null>>;
  readonly note: string | null;
}

const placeOrderOperation = defineServiceOperation<{ input: OrderToPlace }, { placeOrder: { id: string } }>(
  `mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
  z.object({ placeOrder: z.object({ id: z.string() }) }),
);

export async function checkoutCart(peers: Peers, call: ServiceCallOptions, userId: string): Promise<CartLine[]> {
  return (await checkoutCartOperation(peers.cart, call, { userId })).checkoutCart.lines;
}

export async function productsByIds(
  peers: Peers,
  call: ServiceCallOptions,
  ids: readonly string[],
): Promise<(CatalogProduct | null)[]> {
  return (await productsByIdsOperation(peers.product, call, { ids })).productsByIds;
}

/**
 * All lines or none; OUT_OF_STOCK naming the product and what is left (an unknown, deleted or inactive one
 * included, with nothing left). Idempotent per order id. Answers each line's product as the catalog shows it
 * now, aligned with `lines` (null for one the reservation does not name), so no productsByIds call is needed.
 */
export async function reserveStock(
  peers: Peers,
  call: ServiceCallOptions,
  orderId: string,
  lines: readonly CartLine[],
): Promise<(CatalogProduct | null)[]> {
  const reply = await reserveStockOperation(peers.product, call, {
    orderId,
    lines: lines.map(({ productId, quantity }) => ({ productId, quantity })),
  });
  const products = new Map(reply.reserveStock.lines.map((line) => [line.productId, line.product]));
  return lines.map((line) => products.get(line.productId) ?? null);
}

/** Idempotent; releasing an order that reserved nothing records a release, so a late reserve holds nothing. */
export async function releaseReservation(peers: Peers, call: ServiceCallOptions, orderId: string): Promise<void> {
  await releaseReservationOperation(peers.product, call, { orderId });
}

/** Idempotent per order id: a repeat returns the order already placed. */
export async function placeOrder(peers: Peers, call: ServiceCallOptions, input: OrderToPlace): Promise<string> {
  return (await placeOrderOperation(peers.order, call, { input })).placeOrder.id;
}
