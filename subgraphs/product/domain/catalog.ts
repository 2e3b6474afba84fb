import { badUserInput, fromZodIssues } from '@mall/platform/errors';
import { type Currency, isCurrency, type Money, MoneyInput } from '@mall/platform/money';
import { z } from 'zod';

export interface Category {
  readonly id: bigint;
  readonly name: string;
  readonly slug: string;
  readonly parentId: bigint | null;
}

export interface Product {
  readonly id: bigint;
  readonly merchantId: bigint;
  readonly name: string;
  readonly description: string;
  readonly price: Money;
  readonly imageUrls: readonly string[];
  readonly active: boolean;
  /** Available to buy: on hand minus reserved. */
  readonly stock: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

/**
 * A product as reads by id see it (through the product cache): `stock` only when the row came from Postgres
 * anyway (a cache miss, the listing, a write). Stock changes with every reservation, so the cache leaves it out
 * and the `stock` field reads it from Postgres when a query selects it; a checkout, which never does, then reads
 * its products from Redis and its reservations invalidate nothing.
 */
export type ProductEntry = Omit<Product, 'stock'> & { readonly stock?: number };

export const NAME_MAX = 200;
export const CATEGORY_NAME_MAX = 100;
export const DESCRIPTION_MAX = 5_000;
export const SLUG_MAX = 80;
export const IMAGES_MAX = 10;
export const CATEGORIES_PER_PRODUCT_MAX = 20;
/** Stock fits a Postgres integer with room for reservations on top. */
export const STOCK_MAX = 1_000_000_000;
/** GraphQL Int is 32-bit; a price is stored in an `integer` column. */
export const PRICE_MAX = 2_147_483_647;

const Name = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const Slug = z
  .string()
  .trim()
  .max(SLUG_MAX, `must be at most ${SLUG_MAX} characters`)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be lower-case letters and digits separated by single dashes');
const Description = z.string().max(DESCRIPTION_MAX, `must be at most ${DESCRIPTION_MAX} characters`);
const ImageUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
  .max(2_048, 'must be at most 2048 characters');
const Price = MoneyInput.shape.amount.max(PRICE_MAX, `must be at most ${PRICE_MAX}`);
const Stock = z.number().int('must be an integer').min(0, 'must not be negative').max(STOCK_MAX);
// Ids stay strings here: the service decodes them (a malformed one is an unknown category).
const Ids = z.array(z.string()).max(CATEGORIES_PER_PRODUCT_MAX, `at most ${CATEGORIES_PER_PRODUCT_MAX}`);

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodIssues(result.error.issues);
  return result.data;
}

// ---------- categories ----------

const NewCategoryInput = z.object({
  name: Name(CATEGORY_NAME_MAX),
  slug: Slug.nullish(),
  parentId: z.string().nullish(),
});
const CategoryChangesInput = z.object({
  name: Name(CATEGORY_NAME_MAX).nullish(),
  slug: Slug.nullish(),
  parentId: z.string().nullish(),
});

export interface NewCategory {
  readonly name: string;
  readonly slug: string | null;
  readonly parentId: string | null;
}
export interface CategoryChanges {
  readonly name?: string;
  readonly slug?: string;
  /** null: make it a root; absent: keep the parent. */
  readonly parentId?: string | null;
}

export function parseNewCategory(input: unknown): NewCategory {
  const { name, slug, parentId } = parse(NewCategoryInput, input);
  return { name, slug: slug ?? null, parentId: parentId ?? null };
}

/** `parentId: null` sent explicitly moves the category to the root; an absent one keeps its parent. */
export function parseCategoryChanges(input: unknown): CategoryChanges {
  const { name, slug, parentId } = parse(CategoryChangesInput, input);
  const hasParent = typeof input === 'object' && input !== null && 'parentId' in input;
  return {
    ...(name != null ? { name } : {}),
    ...(slug != null ? { slug } : {}),
    ...(hasParent ? { parentId: parentId ?? null } : {}),
  };
}

/**
 * A URL slug from a name: ASCII letters and digits, lower-case, dash-separated. Empty when the name has none
 * (a name in Chinese): the caller then falls back to an id-based slug.
 */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX - 14)
    .replace(/-+$/, '');
}

/** The slug to try first for a category without one, and the one to fall back on when it is taken. */
export function generatedSlugs(name: string, id: bigint): readonly [string, string] {
  const base = slugify(name);
  const suffix = id.toString(36);
  return base ? [base, `${base}-${suffix}`] : [`c-${suffix}`, `c-${suffix}`];
}

/**
 * Whether making `parentId` the parent of `categoryId` keeps the tree a tree: the new parent must not be the
 * category itself nor any category below it. `parentPath` is the new parent's chain up to its root.
 */
export function createsCycle(categoryId: bigint, parentPath: readonly bigint[]): boolean {
  return parentPath.includes(categoryId);
}

// ---------- products ----------

const ProductFields = {
  name: Name(NAME_MAX),
  description: Description.nullish(),
  priceAmount: Price,
  currency: MoneyInput.shape.currency,
  categoryIds: Ids.nullish(),
  imageUrl: ImageUrl.nullish(),
  imageUrls: z.array(ImageUrl).max(IMAGES_MAX, `at most ${IMAGES_MAX}`).nullish(),
  active: z.boolean().nullish(),
};
const NewProductInput = z.object({ ...ProductFields, stock: Stock });
const ProductChangesInput = z.object({
  ...ProductFields,
  name: ProductFields.name.nullish(),
  priceAmount: Price.nullish(),
  // Absent stays absent: an update never falls back to the default currency.
  currency: z.string().nullish(),
});

export interface NewProduct {
  readonly name: string;
  readonly description: string;
  readonly price: Money;
  readonly stock: number;
  readonly categoryIds: readonly string[];
  readonly imageUrls: readonly string[];
  readonly active: boolean;
}

export interface ProductChanges {
  readonly name?: string;
  readonly description?: string;
  readonly priceAmount?: number;
  readonly currency?: Currency;
  readonly categoryIds?: readonly string[];
  readonly imageUrls?: readonly string[];
  readonly active?: boolean;
}

/** imageUrl first, then imageUrls, without repeats; at most IMAGES_MAX. */
function images(imageUrl: string | null | undefined, imageUrls: readonly string[] | null | undefined): string[] {
  const all = [...new Set([...(imageUrl ? [imageUrl] : []), ...(imageUrls ?? [])])];
  if (all.length > IMAGES_MAX)
    throw badUserInput('Invalid input: imageUrls: too many images', [
      { field: 'imageUrls', message: `at most ${IMAGES_MAX} images in all` },
    ]);
  return all;
}

export function parseNewProduct(input: unknown): NewProduct {
  const p = parse(NewProductInput, input);
  return {
    name: p.name,
    description: p.description ?? '',
    price: { amount: p.priceAmount, currency: p.currency },
    stock: p.stock,
    categoryIds: [...new Set(p.categoryIds ?? [])],
    imageUrls: images(p.imageUrl, p.imageUrls),
    active: p.active ?? true,
  };
}

export function parseProductChanges(input: unknown): ProductChanges {
  const p = parse(ProductChangesInput, input);
  if (p.currency != null && !isCurrency(p.currency))
    throw badUserInput(`Invalid input: currency: unsupported currency ${p.currency.slice(0, 8)}`, [
      { field: 'currency', message: 'must be a supported ISO 4217 code' },
    ]);
  const given = (key: string) => typeof input === 'object' && input !== null && key in input;
  const imagesGiven = given('imageUrl') || given('imageUrls');
  return {
    ...(p.name != null ? { name: p.name } : {}),
    ...(p.description != null ? { description: p.description } : {}),
    ...(p.priceAmount != null ? { priceAmount: p.priceAmount } : {}),
    ...(p.currency != null ? { currency: p.currency as Currency } : {}),
    ...(p.categoryIds != null ? { categoryIds: [...new Set(p.categoryIds)] } : {}),
    ...(imagesGiven ? { imageUrls: images(p.imageUrl, p.imageUrls) } : {}),
    ...(p.active != null ? { active: p.active } : {}),
  };
}

/** Only a merchant's own products are theirs to change; an ADMIN may change any. */
export function mayManage(product: Pick<Product, 'merchantId'>, callerId: bigint, isAdmin: boolean): boolean {
  return isAdmin || product.merchantId === callerId;
}
