import type { Role } from '@mall/platform';
import type { User } from '../domain/user.ts';
import type { Prisma, PrismaClient } from './generated/client.ts';

/** The root client or an interactive transaction's: reads take either, writes that must be atomic take a tx. */
export type Db = PrismaClient | Prisma.TransactionClient;
export type Tx = Prisma.TransactionClient;

// Every column but the password hash, which only the credential check reads.
const USER = { id: true, email: true, name: true, roles: true, status: true, createdAt: true } as const;
const ACTIVE = { status: 'ACTIVE' } as const;

export function findActiveByIds(db: Db, ids: readonly bigint[]): Promise<User[]> {
  return db.user.findMany({ where: { id: { in: [...ids] }, ...ACTIVE }, select: USER });
}

export async function findCredentials(db: Db, email: string): Promise<{ user: User; passwordHash: string } | null> {
  const row = await db.user.findFirst({ where: { email, ...ACTIVE }, select: { ...USER, passwordHash: true } });
  if (!row) return null;
  const { passwordHash, ...user } = row;
  return { user, passwordHash };
}

/** Up to `take` active users with ids above `after`, in id order (keyset pagination on the primary key). */
export function listActive(db: Db, options: { after: bigint | null; take: number }): Promise<User[]> {
  return db.user.findMany({
    where: { ...ACTIVE, ...(options.after === null ? {} : { id: { gt: options.after } }) },
    orderBy: { id: 'asc' },
    take: options.take,
    select: USER,
  });
}

/** Any row, deleted ones included (their tombstone addresses never collide with real ones). */
export async function emailInUse(db: Db, email: string): Promise<boolean> {
  return (await db.user.findUnique({ where: { email }, select: { id: true } })) !== null;
}

export function countActive(db: Db): Promise<number> {
  return db.user.count({ where: ACTIVE });
}

export interface NewUserRow {
  readonly id: bigint;
  readonly email: string;
  readonly passwordHash: string;
  readonly name: string | null;
  readonly roles: readonly Role[];
}

/**
 * Inserts unless the email is taken (ON CONFLICT DO NOTHING); null when another row already has it. The
 * unique index decides, not an earlier read, and a conflict neither aborts the transaction nor logs an error.
 */
export async function insertUserIfAbsent(tx: Tx, row: NewUserRow): Promise<User | null> {
  const created = await tx.user.createManyAndReturn({
    data: [{ ...row, roles: [...row.roles] }],
    skipDuplicates: true,
    select: USER,
  });
  return created[0] ?? null;
}

/** The active user, row-locked until the transaction ends so concurrent changes to it queue up behind ours. */
export async function lockActiveUser(tx: Tx, id: bigint): Promise<User | null> {
  const locked = await tx.$queryRaw<
    { id: bigint }[]
  >`SELECT id FROM users WHERE id = ${id} AND status = 'ACTIVE' FOR UPDATE`;
  return locked.length ? tx.user.findUnique({ where: { id }, select: USER }) : null;
}

/**
 * Locks every active ADMIN (in id order, so two callers cannot deadlock on them) and returns how many there
 * are besides `exceptId`. While they stay locked none of them can lose the role or be deleted, which is what
 * makes "is anyone else an admin?" still true at commit. Call it before locking the target row.
 */
export async function lockOtherAdmins(tx: Tx, exceptId: bigint): Promise<number> {
  const admins = await tx.$queryRaw<{ id: bigint }[]>`
    SELECT id FROM users WHERE status = 'ACTIVE' AND 'ADMIN' = ANY (roles) ORDER BY id FOR UPDATE`;
  return admins.filter((admin) => admin.id !== exceptId).length;
}

export interface UserUpdate {
  readonly email?: string;
  readonly name?: string | null;
  readonly roles?: readonly Role[];
}

export function updateUser(tx: Tx, id: bigint, update: UserUpdate): Promise<User> {
  const { roles, ...rest } = update;
  return tx.user.update({
    where: { id },
    data: { ...rest, ...(roles ? { roles: [...roles] } : {}) },
    select: USER,
  });
}

/** Soft delete: the row (and so the id others hold) stays; what identifies the person is scrubbed. */
export async function markDeleted(tx: Tx, id: bigint, tombstone: string, at: Date): Promise<void> {
  await tx.user.update({
    where: { id },
    // '!' is no argon2 hash, so no password can ever match it again.
    data: {
      status: 'DELETED',
      email: tombstone,
      name: null,
      passwordHash: '!',
      deletedAt: at,
    },
  });
}
