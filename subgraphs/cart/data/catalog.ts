import {
  type Config,
  defineServiceOperation,
  encodeId,
  IdentitySigner,
  money,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import { z } from 'zod';
import type { CatalogProduct } from '../domain/cart.ts';

const Snapshot = z.object({
  id: z.string(),
  name: z.string(),
  price: z.object({ amount: z.number().int(), currency: z.string() }),
  active: z.boolean(),
  deleted: z.boolean(),
  stock: z.number().int(),
});
type Snapshot = z.infer<typeof Snapshot>;

const productsByIdsOperation = defineServiceOperation<{ ids: string[] }, { productsByIds: (Snapshot | null)[] }>(
  `query ProductsByIds($ids: [ID!]!) {
     productsByIds(ids: $ids) { id name price { amount currency } active deleted stock }
   }`,
  z.object({ productsByIds: z.array(Snapshot.nullable()) }),
);

export function createProductClient(config: Config, internalSecret: string): ServiceClient {
  return new ServiceClient({
    url: config.subgraphs.product.url,
    target: 'product',
    signer: new IdentitySigner(internalSecret, 'cart'),
  });
}

/** The catalog's current answer for up to 100 products, in one call; unknown ids are absent. */
export async function fetchProducts(
  products: ServiceClient,
  call: ServiceCallOptions,
  ids: readonly bigint[],
): Promise<CatalogProduct[]> {
  const reply = await productsByIdsOperation(products, call, { ids: ids.map(encodeId) });
  return (
    reply.productsByIds
      .filter((p): p is Snapshot => p !== null)
      // The product subgraph encodes its own snowflakes: always canonical decimal ids.
      .map((p) => ({ ...p, id: BigInt(p.id), price: money(p.price.amount, p.price.currency) }))
  );
}
