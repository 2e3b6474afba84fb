import {
  badUserInput,
  conflict,
  createByIdLoader,
  createGroupLoader,
  decodeId,
  decodeIdOrNotFound,
  encodeKeysetCursor,
  forbidden,
  hasRole,
  type Identity,
  invalidState,
  isUniqueViolation,
  type KeysetRow,
  notFound,
  type Page,
  parseKeysetArgs,
  type RequestScope,
  requireRole,
  requireService,
  withTransaction,
} from '@mall/platform';
import type DataLoader from 'dataloader';
import * as categories from './data/categories.ts';
import type { PrismaClient } from './data/generated/client.ts';
import type { ProductCache } from './data/product-cache.ts';
import type { Tx } from './data/products.ts';
import * as products from './data/products.ts';
import * as stock from './data/stock.ts';
import type { Category, Product, ProductEntry } from './domain/catalog.ts';
import * as rules from './domain/catalog.ts';
import { PRODUCT_KEYSETS, type ProductSort, parseListing } from './domain/listing.ts';

/** The request's batch loaders: every nested lookup (references, categories, children) goes through them. */
export interface CatalogLoaders {
  readonly productById: DataLoader<bigint, ProductEntry | null>;
  /** Live `stock` by product id, for products read without it (from the cache). */
  readonly stockOf: DataLoader<bigint, { id: bigint; stock: number } | null>;
  readonly categoryById: DataLoader<bigint, Category | null>;
  readonly childrenOf: DataLoader<bigint, Category[]>;
  readonly categoriesOf: DataLoader<bigint, Category[]>;
}

/** Peers that may read products in bulk (`productsByIds`): carts price and check their lines, checkout too. */
export const CATALOG_READERS = ['cart', 'checkout'] as const;

/** The most ids one `productsByIds` call takes: a cart's line limit. */
export const PRODUCTS_BY_IDS_MAX = 100;

/** What a use case needs from the request: who is calling, and the request's loaders. */
export interface ProductScope extends RequestScope, CatalogLoaders {}

export interface ProductConnection extends Page<Product> {
  /** A function, so the count query runs only when a client selects `totalCount`. */
  readonly totalCount: () => Promise<number>;
}

export interface CatalogServiceDeps {
  readonly prisma: PrismaClient;
  readonly cache: ProductCache;
  readonly nextId: () => bigint;
}

const unknownCategory = (field: string) =>
  badUserInput(`Invalid input: ${field}: unknown category`, [{ field, message: 'no such category' }]);

/**
 * The catalog's use cases: categories, products and the listing. Authorization, validation, one transaction per
 * change; the product cache is invalidated after each change commits. Resolvers only translate GraphQL to these
 * calls. Nothing here does network I/O inside a transaction.
 */
export class CatalogService {
  readonly #prisma: PrismaClient;
  readonly #cache: ProductCache;
  readonly #nextId: () => bigint;

  constructor(deps: CatalogServiceDeps) {
    this.#prisma = deps.prisma;
    this.#cache = deps.cache;
    this.#nextId = deps.nextId;
  }

  /** Fresh per request, so batching and caching never cross requests. Products come through the Redis cache. */
  createLoaders(): CatalogLoaders {
    return {
      productById: createByIdLoader(
        (ids) => this.#cache.getMany(ids),
        (product) => product.id,
      ),
      stockOf: createByIdLoader(
        (ids) => stock.levelsOf(this.#prisma, ids),
        (level) => level.id,
      ),
      categoryById: createByIdLoader(
        (ids) => categories.findByIds(this.#prisma, ids),
        (category) => category.id,
      ),
      childrenOf: createGroupLoader(async (ids) =>
        (await categories.findChildren(this.#prisma, ids)).map((c) => ({ key: c.parentId!, value: c })),
      ),
      categoriesOf: createGroupLoader(async (ids) =>
        (await categories.findForProducts(this.#prisma, ids)).map((r) => ({ key: r.productId, value: r.category })),
      ),
    };
  }

  // ---------- categories ----------

  async categories(scope: ProductScope): Promise<Category[]> {
    const roots = await categories.findRoots(this.#prisma);
    for (const root of roots) scope.categoryById.prime(root.id, root);
    return roots;
  }

  async category(scope: ProductScope, by: { id?: string | null; slug?: string | null }): Promise<Category | null> {
    if ((by.id == null) === (by.slug == null))
      throw badUserInput('Give exactly one of id and slug', [{ field: 'id', message: 'give exactly one of id, slug' }]);
    if (by.id != null) {
      const id = decodeId(by.id);
      return id === null ? null : scope.categoryById.load(id);
    }
    const found = await categories.findBySlug(this.#prisma, by.slug!.trim().toLowerCase());
    if (found) scope.categoryById.prime(found.id, found);
    return found;
  }

  parent(scope: ProductScope, category: Category): Promise<Category | null> | null {
    return category.parentId === null ? null : scope.categoryById.load(category.parentId);
  }

  children(scope: ProductScope, category: Category): Promise<Category[]> {
    return scope.childrenOf.load(category.id);
  }

  /** Root first; one batched lookup per level, shared by every category in the response. */
  async ancestors(scope: ProductScope, category: Category): Promise<Category[]> {
    const path: Category[] = [];
    const seen = new Set([category.id]);
    for (let id = category.parentId; id !== null && !seen.has(id); ) {
      seen.add(id);
      const parent = await scope.categoryById.load(id);
      if (!parent) break;
      path.unshift(parent);
      id = parent.parentId;
    }
    return path;
  }

  async createCategory(scope: ProductScope, input: unknown): Promise<Category> {
    requireRole(scope.identity, 'MERCHANT');
    const draft = rules.parseNewCategory(input);
    const parentId = draft.parentId === null ? null : decodeId(draft.parentId);
    if (draft.parentId !== null && parentId === null) throw unknownCategory('parentId');
    const id = this.#nextId();
    const slugs = draft.slug ? [draft.slug] : rules.generatedSlugs(draft.name, id);
    const created = await withTransaction(this.#prisma, async (tx) => {
      // The parent cannot be deleted before this child commits (its delete waits for the key-share lock).
      if (parentId !== null && (await categories.lockShared(tx, [parentId])) === 0) throw unknownCategory('parentId');
      for (const slug of slugs) {
        const row = await categories.insertIfSlugFree(tx, { id, name: draft.name, slug, parentId });
        if (row) return row;
      }
      throw conflict('Slug is already taken', { field: 'slug' });
    });
    scope.categoryById.prime(created.id, created);
    return created;
  }

  async updateCategory(scope: ProductScope, id: string, input: unknown): Promise<Category> {
    requireRole(scope.identity, 'MERCHANT');
    const categoryId = decodeIdOrNotFound(id, 'Category');
    const changes = rules.parseCategoryChanges(input);
    const parentId = changes.parentId == null ? changes.parentId : decodeId(changes.parentId);
    if (parentId === null && changes.parentId != null) throw unknownCategory('parentId');
    try {
      const updated = await withTransaction(this.#prisma, async (tx) => {
        if (parentId !== undefined) await categories.lockTree(tx);
        if (!(await categories.lockCategory(tx, categoryId))) throw notFound('Category');
        if (parentId != null) await this.#checkParent(tx, categoryId, parentId);
        return categories.updateCategory(tx, categoryId, {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.slug !== undefined ? { slug: changes.slug } : {}),
          ...(parentId !== undefined ? { parentId } : {}),
        });
      });
      scope.categoryById.clear(categoryId).prime(categoryId, updated);
      return updated;
    } catch (error) {
      if (isUniqueViolation(error, ['slug'])) throw conflict('Slug is already taken', { field: 'slug' });
      throw error;
    }
  }

  async #checkParent(tx: Tx, categoryId: bigint, parentId: bigint): Promise<void> {
    const path = await categories.pathToRoot(tx, parentId);
    if (path.length === 0) throw unknownCategory('parentId');
    if (rules.createsCycle(categoryId, path))
      throw badUserInput('Invalid input: parentId: a category cannot move below itself', [
        { field: 'parentId', message: 'would make the category its own ancestor' },
      ]);
  }

  async deleteCategory(scope: ProductScope, id: string): Promise<boolean> {
    requireRole(scope.identity, 'MERCHANT');
    const categoryId = decodeIdOrNotFound(id, 'Category');
    await withTransaction(this.#prisma, async (tx) => {
      // Tree lock first (as moves take it): a child cannot be moved under this category while it goes.
      await categories.lockTree(tx);
      if (!(await categories.lockCategory(tx, categoryId))) throw notFound('Category');
      const use = await categories.isInUse(tx, categoryId);
      if (use.products || use.children)
        throw invalidState('The category still has products or sub-categories', {
          reason: use.products ? 'HAS_PRODUCTS' : 'HAS_CHILDREN',
        });
      await categories.deleteCategory(tx, categoryId);
    });
    scope.categoryById.clear(categoryId).prime(categoryId, null);
    return true;
  }

  // ---------- products: reads ----------

  /** A live product; NOT_FOUND for an unknown or deleted one. */
  async product(scope: ProductScope, id: string): Promise<ProductEntry> {
    const product = await this.reference(scope, id);
    if (!product || product.deletedAt) throw notFound('Product');
    return product;
  }

  /** Entity reference from a cart, order or flash sale: deleted products still resolve there. */
  async reference(scope: ProductScope, id: string): Promise<ProductEntry | null> {
    const productId = decodeId(id);
    return productId === null ? null : scope.productById.load(productId);
  }

  /** The product of a reservation line (deleted ones included), batched with the request's other reads by id. */
  productOfLine(scope: ProductScope, productId: bigint): Promise<ProductEntry | null> {
    return scope.productById.load(productId);
  }

  /** Internal (cart, checkout): products in the order asked, null for unknown ids, deleted ones included. */
  async productsByIds(scope: ProductScope, ids: readonly string[]): Promise<(ProductEntry | null)[]> {
    requireService(scope.identity, ...CATALOG_READERS);
    if (ids.length > PRODUCTS_BY_IDS_MAX)
      throw badUserInput('Invalid input: ids: too many', [
        { field: 'ids', message: `at most ${PRODUCTS_BY_IDS_MAX} ids` },
      ]);
    return Promise.all(ids.map((id) => this.reference(scope, id)));
  }

  /** What can be bought now: the row's own when it came from Postgres, else one batched read per request. */
  async stock(scope: ProductScope, product: ProductEntry): Promise<number> {
    return product.stock ?? (await scope.stockOf.load(product.id))?.stock ?? 0;
  }

  productCategories(scope: ProductScope, product: ProductEntry): Promise<Category[]> {
    return scope.categoriesOf.load(product.id);
  }

  async products(
    scope: ProductScope,
    args: { filter?: unknown; sort?: ProductSort | null; first?: number | null; after?: string | null },
  ): Promise<ProductConnection> {
    const { filter, sort } = parseListing(args.filter, args.sort);
    const keyset = PRODUCT_KEYSETS[sort];
    const { first, after } = parseKeysetArgs(keyset, { first: args.first, after: args.after });
    const merchantId = filter.merchantId === null ? null : decodeId(filter.merchantId);
    if (filter.merchantId !== null && merchantId === null)
      throw badUserInput('Invalid input: filter.merchantId: not a user id', [
        { field: 'filter.merchantId', message: 'not a user id' },
      ]);
    const categoryIds = filter.categoryId === null ? null : await this.#subtree(filter.categoryId);
    const query = { filter, categoryIds, merchantId };
    const rows = await products.listProducts(this.#prisma, { ...query, keyset, after, take: first + 1 });
    const edges = rows.slice(0, first).map(({ sortKey, ...node }) => {
      scope.productById.prime(node.id, node);
      const position = { id: node.id, [keyset.field]: sortKey } as KeysetRow<typeof keyset.field, typeof keyset.kind>;
      return { cursor: encodeKeysetCursor(keyset, position), node };
    });
    return {
      edges,
      pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
      totalCount: () => products.countProducts(this.#prisma, query),
    };
  }

  async #subtree(categoryId: string): Promise<bigint[]> {
    const id = decodeId(categoryId);
    const ids = id === null ? [] : await categories.subtreeIds(this.#prisma, id);
    if (ids.length === 0) throw unknownCategory('filter.categoryId');
    return ids;
  }

  // ---------- products: writes ----------

  async createProduct(scope: ProductScope, input: unknown): Promise<Product> {
    const merchantId = requireMerchantId(scope.identity);
    const draft = rules.parseNewProduct(input);
    const categoryIds = decodeCategoryIds(draft.categoryIds);
    const product = await withTransaction(this.#prisma, async (tx) => {
      await lockCategories(tx, categoryIds);
      return products.insertProduct(tx, {
        id: this.#nextId(),
        merchantId,
        name: draft.name,
        description: draft.description,
        priceAmount: draft.price.amount,
        currency: draft.price.currency,
        imageUrls: draft.imageUrls,
        active: draft.active,
        available: draft.stock,
        categoryIds,
      });
    });
    scope.productById.prime(product.id, product);
    return product;
  }

  async updateProduct(scope: ProductScope, id: string, input: unknown): Promise<Product> {
    const callerId = requireMerchantId(scope.identity);
    const productId = decodeIdOrNotFound(id, 'Product');
    const { categoryIds: rawCategoryIds, ...changes } = rules.parseProductChanges(input);
    const categoryIds = rawCategoryIds && decodeCategoryIds(rawCategoryIds);
    const updated = await withTransaction(this.#prisma, async (tx) => {
      await lockManagedProduct(tx, scope.identity, productId, callerId);
      if (categoryIds) await lockCategories(tx, categoryIds);
      return products.updateProduct(tx, productId, { ...changes, ...(categoryIds ? { categoryIds } : {}) });
    });
    await this.#changed(scope, updated);
    return updated;
  }

  async deleteProduct(scope: ProductScope, id: string): Promise<boolean> {
    const callerId = requireMerchantId(scope.identity);
    const productId = decodeIdOrNotFound(id, 'Product');
    await withTransaction(this.#prisma, async (tx) => {
      await lockManagedProduct(tx, scope.identity, productId, callerId);
      await products.markDeleted(tx, productId, new Date());
    });
    await this.#cache.invalidate([productId]);
    scope.productById.clear(productId);
    return true;
  }

  /** After a committed change: every instance's cache forgets the product, this request sees the new row. */
  async #changed(scope: ProductScope, product: Product): Promise<void> {
    await this.#cache.invalidate([product.id]);
    scope.productById.clear(product.id).prime(product.id, product);
    scope.categoriesOf.clear(product.id);
  }
}

/** The caller's user id, if a MERCHANT (or ADMIN) may write the catalog; FORBIDDEN or UNAUTHENTICATED if not. */
export function requireMerchantId(identity: Identity): bigint {
  const id = decodeId(requireRole(identity, 'MERCHANT'));
  if (id === null) throw forbidden('Requires role MERCHANT');
  return id;
}

/**
 * Locks the live product the caller may change (until the transaction ends): NOT_FOUND when there is none,
 * FORBIDDEN when it is another merchant's. Every catalog and stock write goes through it.
 */
export async function lockManagedProduct(
  tx: Tx,
  identity: Identity,
  productId: bigint,
  callerId: bigint,
): Promise<Product> {
  const current = await products.lockLiveProduct(tx, productId);
  if (!current) throw notFound('Product');
  if (!rules.mayManage(current, callerId, hasRole(identity, 'ADMIN')))
    throw forbidden("Only the product's merchant or an ADMIN may change it");
  return current;
}

function decodeCategoryIds(ids: readonly string[]): bigint[] {
  return ids.map((raw) => {
    const id = decodeId(raw);
    if (id === null) throw unknownCategory('categoryIds');
    return id;
  });
}

/** Every category must exist, and stays (its delete waits) until the product's transaction ends. */
async function lockCategories(tx: Tx, ids: readonly bigint[]): Promise<void> {
  if (ids.length && (await categories.lockShared(tx, ids)) !== ids.length) throw unknownCategory('categoryIds');
}
