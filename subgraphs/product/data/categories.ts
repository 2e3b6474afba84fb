import type { Category } from '../domain/catalog.ts';
import type { Db, Tx } from './products.ts';

const CATEGORY = { id: true, name: true, slug: true, parentId: true } as const;

export function findByIds(db: Db, ids: readonly bigint[]): Promise<Category[]> {
  return db.category.findMany({ where: { id: { in: [...ids] } }, select: CATEGORY });
}

export function findBySlug(db: Db, slug: string): Promise<Category | null> {
  return db.category.findUnique({ where: { slug }, select: CATEGORY });
}

export function findRoots(db: Db): Promise<Category[]> {
  return db.category.findMany({
    where: { parentId: null },
    orderBy: [{ name: 'asc' }, { id: 'asc' }],
    select: CATEGORY,
  });
}

/** The children of each parent, by name. */
export function findChildren(db: Db, parentIds: readonly bigint[]): Promise<Category[]> {
  return db.category.findMany({
    where: { parentId: { in: [...parentIds] } },
    orderBy: [{ name: 'asc' }, { id: 'asc' }],
    select: CATEGORY,
  });
}

/** Each product's categories by name, as (productId, category) pairs: one query, a join. */
export async function findForProducts(
  db: Db,
  productIds: readonly bigint[],
): Promise<{ productId: bigint; category: Category }[]> {
  const rows = await db.$queryRaw<(Category & { productId: bigint })[]>`
    SELECT pc.product_id AS "productId", c.id, c.name, c.slug, c.parent_id AS "parentId"
    FROM product_categories pc JOIN categories c ON c.id = pc.category_id
    WHERE pc.product_id = ANY(${[...productIds]}::bigint[])
    ORDER BY c.name, c.id`;
  return rows.map(({ productId, ...category }) => ({ productId, category }));
}

/** The category and every category below it, in one recursive query. */
export async function subtreeIds(db: Db, rootId: bigint): Promise<bigint[]> {
  const rows = await db.$queryRaw<{ id: bigint }[]>`
    WITH RECURSIVE tree AS (
      SELECT id FROM categories WHERE id = ${rootId}
      UNION ALL
      SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
    )
    SELECT id FROM tree`;
  return rows.map((r) => r.id);
}

/** `id` and its ancestors up to the root (empty when `id` does not exist). */
export async function pathToRoot(db: Db, id: bigint): Promise<bigint[]> {
  const rows = await db.$queryRaw<{ id: bigint }[]>`
    WITH RECURSIVE up AS (
      SELECT id, parent_id, 0 AS depth FROM categories WHERE id = ${id}
      UNION ALL
      SELECT c.id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id
    )
    SELECT id FROM up ORDER BY depth`;
  return rows.map((r) => r.id);
}

/**
 * Key-share locks the categories among `ids` that exist and returns how many: while the caller's transaction
 * lasts none of them can be deleted (deleteCategory's row lock waits), so a product never links to a category
 * that is gone.
 */
export async function lockShared(tx: Tx, ids: readonly bigint[]): Promise<number> {
  const rows = await tx.$queryRaw<{ id: bigint }[]>`
    SELECT id FROM categories WHERE id = ANY(${[...ids]}::bigint[]) FOR KEY SHARE`;
  return rows.length;
}

/**
 * Serializes every change to the tree's shape for this transaction: two moves that would each be fine alone
 * (A under B, B under A) cannot both pass their cycle check. Moves are rare, so one lock for the tree is cheap.
 */
export async function lockTree(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('product.categories.tree'))`;
}

/** Inserts unless the slug is taken (ON CONFLICT DO NOTHING): null then, and the transaction stays usable. */
export async function insertIfSlugFree(
  tx: Tx,
  row: { id: bigint; name: string; slug: string; parentId: bigint | null },
): Promise<Category | null> {
  const created = await tx.category.createManyAndReturn({ data: [row], skipDuplicates: true, select: CATEGORY });
  return created[0] ?? null;
}

/** Row-locks the category for a change or a delete; false when there is none. */
export async function lockCategory(tx: Tx, id: bigint): Promise<boolean> {
  const rows = await tx.$queryRaw<{ id: bigint }[]>`SELECT id FROM categories WHERE id = ${id} FOR UPDATE`;
  return rows.length === 1;
}

export function updateCategory(
  tx: Tx,
  id: bigint,
  update: { name?: string; slug?: string; parentId?: bigint | null },
): Promise<Category> {
  return tx.category.update({ where: { id }, data: update, select: CATEGORY });
}

/** Whether anything hangs below the category: live products or child categories. */
export async function isInUse(tx: Tx, id: bigint): Promise<{ products: boolean; children: boolean }> {
  const product = await tx.productCategory.findFirst({
    where: { categoryId: id, product: { deletedAt: null } },
    select: { productId: true },
  });
  const child = await tx.category.findFirst({ where: { parentId: id }, select: { id: true } });
  return { products: product !== null, children: child !== null };
}

/** Deletes an unused category; deleted products lose their link to it (they have left every listing). */
export async function deleteCategory(tx: Tx, id: bigint): Promise<void> {
  await tx.productCategory.deleteMany({ where: { categoryId: id } });
  await tx.category.delete({ where: { id } });
}
