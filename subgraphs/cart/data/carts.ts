import type { Cart, CartLine } from '../domain/cart.ts';
import type { Prisma, PrismaClient } from './generated/client.ts';

/** The root client or an interactive transaction's: reads take either, writes that must be atomic take a tx. */
export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

/** The user's cart, oldest line first; no row yet is an empty cart. */
export async function findCart(db: Db, userId: bigint): Promise<Cart> {
  const lines = await db.cartLine.findMany({
    where: { userId },
    orderBy: [{ addedAt: 'asc' }, { productId: 'asc' }],
    select: { productId: true, quantity: true, addedAt: true },
  });
  return { userId, lines };
}

/**
 * Creates the cart row if needed and locks it until the transaction ends: every change to a cart takes this
 * lock first, so concurrent changes to one cart run one after another and the limits hold.
 */
export async function lockCart(tx: Tx, userId: bigint): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO carts (user_id) VALUES (${userId})
    ON CONFLICT (user_id) DO UPDATE SET updated_at = now()`;
}

/** Inserts the line or sets its quantity (the cart is locked). */
export async function saveLine(tx: Tx, userId: bigint, line: Pick<CartLine, 'productId' | 'quantity'>): Promise<void> {
  await tx.cartLine.upsert({
    where: { userId_productId: { userId, productId: line.productId } },
    create: { userId, productId: line.productId, quantity: line.quantity },
    update: { quantity: line.quantity },
  });
}

export async function deleteLine(tx: Tx, userId: bigint, productId: bigint): Promise<void> {
  await tx.cartLine.deleteMany({ where: { userId, productId } });
}

export async function deleteLines(tx: Tx, userId: bigint): Promise<void> {
  await tx.cartLine.deleteMany({ where: { userId } });
}

/** Takes `quantity` units off the line: the line goes when nothing is left (the cart is locked). */
export async function takeFromLine(tx: Tx, userId: bigint, productId: bigint, quantity: number): Promise<void> {
  await tx.cartLine.deleteMany({ where: { userId, productId, quantity: { lte: quantity } } });
  await tx.cartLine.updateMany({
    where: { userId, productId, quantity: { gt: quantity } },
    data: { quantity: { decrement: quantity } },
  });
}
