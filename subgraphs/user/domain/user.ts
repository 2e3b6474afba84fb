import { ROLES, type Role } from '@mall/platform/access';
import { fromZodIssues } from '@mall/platform/errors';
import { z } from 'zod';

export type { Role };
export type UserStatus = 'ACTIVE' | 'DELETED';

/** A user as the domain sees it; the password hash never leaves the data layer. */
export interface User {
  readonly id: bigint;
  readonly email: string;
  readonly name: string | null;
  readonly roles: readonly Role[];
  readonly status: UserStatus;
  readonly createdAt: Date;
}

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const NAME_MAX = 100;
const EMAIL_MAX = 254;

/** Trimmed and lower-cased: the one form stored, compared and shown. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(EMAIL_MAX, `must be at most ${EMAIL_MAX} characters`)
  .pipe(z.email('must be a valid email address'));

const Password = z
  .string()
  .min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);

// A blank name means "no name", so a cleared form field clears it instead of storing whitespace.
const Name = z
  .string()
  .trim()
  .max(NAME_MAX, `must be at most ${NAME_MAX} characters`)
  .transform((name) => (name === '' ? null : name));

const CreateAccountInput = z.object({
  email: Email,
  password: Password,
  name: Name.nullish().transform((n) => n ?? null),
});
const UpdateProfileInput = z.object({ name: Name.nullish() });
const UpdateUserInput = z.object({ name: Name.nullish(), email: Email.nullish() });

export type NewAccount = z.output<typeof CreateAccountInput>;
/** Fields to change; absent (undefined) leaves a field alone, null clears the name. */
export interface ProfileChanges {
  readonly name?: string | null;
  readonly email?: string;
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodIssues(result.error.issues);
  return result.data;
}

/** Throws BAD_USER_INPUT listing every offending field. */
export function parseNewAccount(input: unknown): NewAccount {
  return parse(CreateAccountInput, input);
}

export function parseProfileChanges(input: unknown): ProfileChanges {
  const { name } = parse(UpdateProfileInput, input);
  return name === undefined ? {} : { name };
}

export function parseUserChanges(input: unknown): ProfileChanges {
  const { name, email } = parse(UpdateUserInput, input);
  // GraphQL lets a client send `email: null`; an account always has an address, so null means "unchanged".
  return { ...(name === undefined ? {} : { name }), ...(email == null ? {} : { email }) };
}

/** The changes that actually differ from `user`; empty when the update is a no-op. */
export function effectiveChanges(user: User, changes: ProfileChanges): ProfileChanges {
  return {
    ...(changes.name !== undefined && changes.name !== user.name ? { name: changes.name } : {}),
    ...(changes.email !== undefined && changes.email !== user.email ? { email: changes.email } : {}),
  };
}

/** Roles in their declared order, so stored arrays and events compare equal regardless of history. */
export function canonicalRoles(roles: Iterable<Role>): Role[] {
  const set = new Set(roles);
  return ROLES.filter((role) => set.has(role));
}

export type RoleChange =
  | { readonly kind: 'changed'; readonly roles: Role[] }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly reason: 'CUSTOMER_IS_PERMANENT' | 'LAST_ADMIN' };

export function assignRole(current: readonly Role[], role: Role): RoleChange {
  return current.includes(role)
    ? { kind: 'unchanged' }
    : { kind: 'changed', roles: canonicalRoles([...current, role]) };
}

/**
 * @param otherAdmins how many other ACTIVE users hold ADMIN, counted while they are locked so none of them can
 *   lose the role before this change commits.
 */
export function revokeRole(current: readonly Role[], role: Role, otherAdmins: number): RoleChange {
  if (role === 'CUSTOMER') return { kind: 'refused', reason: 'CUSTOMER_IS_PERMANENT' };
  if (!current.includes(role)) return { kind: 'unchanged' };
  if (role === 'ADMIN' && otherAdmins === 0) return { kind: 'refused', reason: 'LAST_ADMIN' };
  return { kind: 'changed', roles: current.filter((r) => r !== role) };
}

/** Deleting an admin removes an admin just like revoking the role does. */
export function mayDelete(user: User, otherAdmins: number): boolean {
  return !user.roles.includes('ADMIN') || otherAdmins > 0;
}

/**
 * What a deleted account's email becomes: unique per account and never a deliverable address (`.invalid` is
 * reserved, RFC 2606), so the real address can register again while the row keeps its unique email.
 */
export const tombstoneEmail = (id: bigint): string => `deleted-${id}@deleted.invalid`;
