import type { KeysetPosition } from '@mall/platform';
import { type Currency, isCurrency } from '@mall/platform/money';
import type { Product } from '../domain/catalog.ts';
import type { ProductFilter, ProductKeyset } from '../domain/listing.ts';
import { Prisma, type PrismaClient } from './generated/client.ts';

/** The root client or an interactive transaction's: reads take either, writes that must be atomic take a tx. */
export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

const PRODUCT = {
  id: true,
  merchantId: true,
  name: true,
  description: true,
  priceAmount: true,
  currency: true,
  imageUrls: true,
  active: true,
  available: true,
  createdAt: true,
  updatedAt: true,
  deletedAt: true,
} as const;

interface ProductRow {
  readonly id: bigint;
  readonly merchantId: bigint;
  readonly name: string;
  readonly description: string;
  readonly priceAmount: number;
  readonly currency: string;
  readonly imageUrls: readonly string[] | null;
  readonly active: boolean;
  readonly available: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

function currencyOf(code: string): Currency {
  // Only validated codes are ever written; a row that says otherwise is corrupt, not the caller's fault.
  if (!isCurrency(code)) throw new Error(`product row has unsupported currency ${code}`);
  return code;
}

function toProduct(row: ProductRow): Product {
  const { priceAmount, currency, available, imageUrls, ...rest } = row;
  return {
    ...rest,
    price: { amount: priceAmount, currency: currencyOf(currency) },
    imageUrls: imageUrls ?? [],
    stock: available,
  };
}

/** Deleted products included: carts and orders still resolve them; the service decides who sees what. */
export async function findByIds(db: Db, ids: readonly bigint[]): Promise<Product[]> {
  const rows = await db.product.findMany({ where: { id: { in: [...ids] } }, select: PRODUCT });
  return rows.map(toProduct);
}

export interface NewProductRow {
  readonly id: bigint;
  readonly merchantId: bigint;
  readonly name: string;
  readonly description: string;
  readonly priceAmount: number;
  readonly currency: Currency;
  readonly imageUrls: readonly string[];
  readonly active: boolean;
  readonly available: number;
  readonly categoryIds: readonly bigint[];
}

export async function insertProduct(tx: Tx, row: NewProductRow): Promise<Product> {
  const { categoryIds, imageUrls, ...fields } = row;
  const created = await tx.product.create({
    data: {
      ...fields,
      imageUrls: [...imageUrls],
      categories: { create: categoryIds.map((categoryId) => ({ categoryId })) },
    },
    select: PRODUCT,
  });
  return toProduct(created);
}

/** The live (not deleted) product, row-locked until the transaction ends so changes to it queue up. */
export async function lockLiveProduct(tx: Tx, id: bigint): Promise<Product | null> {
  const locked = await tx.$queryRaw<{ id: bigint }[]>`
    SELECT id FROM products WHERE id = ${id} AND deleted_at IS NULL FOR UPDATE`;
  if (!locked.length) return null;
  return toProduct(await tx.product.findUniqueOrThrow({ where: { id }, select: PRODUCT }));
}

export interface ProductUpdate {
  readonly name?: string;
  readonly description?: string;
  readonly priceAmount?: number;
  readonly currency?: Currency;
  readonly imageUrls?: readonly string[];
  readonly active?: boolean;
  readonly categoryIds?: readonly bigint[];
}

export async function updateProduct(tx: Tx, id: bigint, update: ProductUpdate): Promise<Product> {
  const { categoryIds, imageUrls, ...fields } = update;
  const updated = await tx.product.update({
    where: { id },
    data: {
      ...fields,
      ...(imageUrls ? { imageUrls: [...imageUrls] } : {}),
      ...(categoryIds
        ? { categories: { deleteMany: {}, create: categoryIds.map((categoryId) => ({ categoryId })) } }
        : {}),
    },
    select: PRODUCT,
  });
  return toProduct(updated);
}

/** Soft delete of a live product; false when there was none. */
export async function markDeleted(tx: Tx, id: bigint, at: Date): Promise<boolean> {
  const { count } = await tx.product.updateMany({ where: { id, deletedAt: null }, data: { deletedAt: at } });
  return count === 1;
}

// ---------- the listing ----------

/**
 * The listing's WHERE: live, active products matching the filter. `categoryIds` is the filter's category and
 * all its descendants (resolved by the caller); `merchantId` decoded. Search matches products whose name or
 * description contains a word similar to the search (`%>`: trigram word similarity ≥ pg_trgm's threshold, 0.6),
 * so a prefix or a near miss ("kettles", "ketle") finds "Tea kettle"; served by the trigram GIN indexes.
 */
function listingWhere(
  filter: ProductFilter,
  resolved: { categoryIds: readonly bigint[] | null; merchantId: bigint | null },
): Prisma.Sql {
  const conditions = [Prisma.sql`p.deleted_at IS NULL`, Prisma.sql`p.active`];
  if (resolved.categoryIds)
    conditions.push(Prisma.sql`EXISTS (SELECT 1 FROM product_categories pc
      WHERE pc.product_id = p.id AND pc.category_id = ANY(${[...resolved.categoryIds]}::bigint[]))`);
  if (resolved.merchantId !== null) conditions.push(Prisma.sql`p.merchant_id = ${resolved.merchantId}`);
  if (filter.minPrice !== null) conditions.push(Prisma.sql`p.price_amount >= ${filter.minPrice}`);
  if (filter.maxPrice !== null) conditions.push(Prisma.sql`p.price_amount <= ${filter.maxPrice}`);
  if (filter.inStock) conditions.push(Prisma.sql`p.available > 0`);
  if (filter.search) {
    // Each arm alone is a bitmap scan of its trigram index; written as one OR, the planner's default estimate
    // for trigram operators adds up to a fifth of the table and it scans the whole table instead (see bench/).
    conditions.push(Prisma.sql`p.id IN (
      SELECT id FROM products WHERE name %> ${filter.search}
      UNION ALL SELECT id FROM products WHERE description %> ${filter.search})`);
  }
  return Prisma.join(conditions, ' AND ');
}

/** The sort key column of each keyset, as SQL over the listing's columns. */
function sortKey(keyset: ProductKeyset, search: string | null): Prisma.Sql {
  switch (keyset.field) {
    case 'createdAt':
      return Prisma.sql`p.created_at`;
    case 'priceAmount':
      return Prisma.sql`p.price_amount`;
    case 'name':
      return Prisma.sql`p.name`;
    case 'score':
      // A name match outranks a description match; scaled to an integer so cursors carry it exactly.
      return Prisma.sql`(1000000 * greatest(word_similarity(${search ?? ''}, p.name),
        0.5 * word_similarity(${search ?? ''}, p.description)))::int`;
  }
}

export interface ListingQuery {
  readonly filter: ProductFilter;
  readonly categoryIds: readonly bigint[] | null;
  readonly merchantId: bigint | null;
  readonly keyset: ProductKeyset;
  readonly after: KeysetPosition<ProductKeyset['kind']> | null;
  readonly take: number;
}

/** A listed product with the value of its sort key, which its cursor encodes. */
export type ListedProduct = Product & { readonly sortKey: Date | number | string };

/**
 * One keyset page: rows strictly after the cursor's `(key, id)` in the keyset's direction (a row comparison,
 * so ties on the key continue by id), then `take` of them. The SQL alone, for `EXPLAIN` (the benchmark).
 */
export function listingSql(query: ListingQuery): Prisma.Sql {
  const { keyset } = query;
  const where = listingWhere(query.filter, query);
  const key = sortKey(keyset, query.filter.search);
  const direction = keyset.direction === 'asc' ? Prisma.sql`ASC` : Prisma.sql`DESC`;
  const after = query.after
    ? keyset.direction === 'asc'
      ? Prisma.sql`AND (l."sortKey", l.id) > (${query.after.sort}, ${query.after.id})`
      : Prisma.sql`AND (l."sortKey", l.id) < (${query.after.sort}, ${query.after.id})`
    : Prisma.empty;
  return Prisma.sql`
    SELECT l.* FROM (
      SELECT p.id, p.merchant_id AS "merchantId", p.name, p.description, p.price_amount AS "priceAmount",
             p.currency, p.image_urls AS "imageUrls", p.active, p.available, p.created_at AS "createdAt",
             p.updated_at AS "updatedAt", p.deleted_at AS "deletedAt", ${key} AS "sortKey"
      FROM products p WHERE ${where}
    ) l
    WHERE true ${after}
    ORDER BY l."sortKey" ${direction}, l.id ${direction}
    LIMIT ${query.take}`;
}

export async function listProducts(db: Db, query: ListingQuery): Promise<ListedProduct[]> {
  const rows = await db.$queryRaw<(ProductRow & { sortKey: Date | number | string })[]>(listingSql(query));
  return rows.map(({ sortKey, ...row }) => ({ ...toProduct(row), sortKey }));
}

export async function countProducts(
  db: Db,
  query: Pick<ListingQuery, 'filter' | 'categoryIds' | 'merchantId'>,
): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM products p WHERE ${listingWhere(query.filter, query)}`;
  return row?.n ?? 0;
}
