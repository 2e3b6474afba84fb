import { writeOutbox } from '@mall/events';
import {
  badUserInput,
  conflict,
  createByIdLoader,
  decodeId,
  decodeIdOrNotFound,
  forbidden,
  hasRole,
  invalidState,
  isUniqueViolation,
  notFound,
  type Page,
  parsePageArgs,
  type RequestScope,
  type Role,
  requireCallerId,
  requireOwnerOrAdmin,
  requireRole,
  requireService,
  requireUser,
  toPage,
  withTransaction,
} from '@mall/platform';
import type DataLoader from 'dataloader';
import type { PrismaClient } from './data/generated/client.ts';
import type { PasswordHasher } from './data/passwords.ts';
import * as users from './data/users.ts';
import { canRead, isService } from './domain/access.ts';
import type { User } from './domain/user.ts';
import * as rules from './domain/user.ts';
import * as events from './events/producers.ts';

export type UserLoader = DataLoader<bigint, User | null>;

/** What a use case needs from the request: the platform's scope (who is calling) and the request's DataLoader. */
export interface UserScope extends RequestScope {
  readonly userById: UserLoader;
}

export interface UserConnection extends Page<User> {
  /** A function, so the count query runs only when a client selects `totalCount`. */
  readonly totalCount: () => Promise<number>;
}

export interface UserServiceDeps {
  readonly prisma: PrismaClient;
  readonly passwords: PasswordHasher;
  readonly nextId: () => bigint;
}

const emailTaken = () => conflict('Email is already registered', { field: 'email' });

/**
 * The user subgraph's use cases: authorization, validation, one transaction per change with its outbox
 * event. Resolvers only translate GraphQL to these calls. Nothing here does network I/O inside a transaction.
 */
export class UserService {
  readonly #prisma: PrismaClient;
  readonly #passwords: PasswordHasher;
  readonly #nextId: () => bigint;

  constructor(deps: UserServiceDeps) {
    this.#prisma = deps.prisma;
    this.#passwords = deps.passwords;
    this.#nextId = deps.nextId;
  }

  /** A fresh per-request batch loader of active users by id: every lookup goes through it. */
  createLoader(): UserLoader {
    return createByIdLoader(
      (ids) => users.findActiveByIds(this.#prisma, ids),
      (user) => user.id,
    );
  }

  // ---------- public reads ----------

  /** The caller's own account; null once it is deleted (its tokens live on for a few minutes). */
  me(scope: UserScope): Promise<User | null> {
    return scope.userById.load(requireCallerId(scope.identity));
  }

  async user(scope: UserScope, id: string): Promise<User> {
    if (!isService(scope.identity)) requireUser(scope.identity);
    const user = await this.reference(scope, id);
    if (!user) throw notFound('User');
    return user;
  }

  async users(scope: UserScope, args: { first?: number | null; after?: string | null }): Promise<UserConnection> {
    await this.#requireAdmin(scope);
    const { first, after } = parsePageArgs(args);
    const rows = await users.listActive(this.#prisma, { after, take: first + 1 });
    for (const row of rows) scope.userById.prime(row.id, row);
    return { ...toPage(rows, first), totalCount: () => users.countActive(this.#prisma) };
  }

  /** Entity reference from another subgraph's field: same visibility as `user(id)`, but null instead of an error. */
  async reference(scope: UserScope, id: string): Promise<User | null> {
    const userId = decodeId(id);
    if (userId === null || !canRead(scope.identity, userId, await this.#isAdmin(scope))) return null;
    return scope.userById.load(userId);
  }

  // ---------- internal, for auth ----------

  async createAccount(scope: UserScope, input: unknown): Promise<User> {
    requireService(scope.identity, 'auth');
    const account = rules.parseNewAccount(input);
    // Hashed before the transaction: 20–40 ms of CPU must not hold a connection and its locks.
    const passwordHash = await this.#passwords.hash(account.password);
    const row = {
      id: this.#nextId(),
      email: account.email,
      passwordHash,
      name: account.name,
      roles: ['CUSTOMER'] as Role[],
    };
    return withTransaction(this.#prisma, async (tx) => {
      // The unique index decides, so two registrations racing for one address cannot both win.
      const user = await users.insertUserIfAbsent(tx, row);
      if (!user) throw emailTaken();
      await writeOutbox(tx, events.userRegistered(user, scope.requestId));
      return user;
    });
  }

  /** The active account with these credentials, else null; every miss costs one argon2 verification. */
  async verifyCredentials(scope: UserScope, email: string, password: string): Promise<User | null> {
    requireService(scope.identity, 'auth');
    const found =
      password.length <= rules.PASSWORD_MAX
        ? await users.findCredentials(this.#prisma, rules.normalizeEmail(email))
        : null;
    if (!found) {
      await this.#passwords.verifyNothing(password);
      return null;
    }
    return (await this.#passwords.verify(found.passwordHash, password)) ? found.user : null;
  }

  async accountForSession(scope: UserScope, id: string): Promise<User | null> {
    requireService(scope.identity, 'auth');
    const userId = decodeId(id);
    return userId === null ? null : scope.userById.load(userId);
  }

  // ---------- public writes ----------

  updateMe(scope: UserScope, input: unknown): Promise<User> {
    const id = requireCallerId(scope.identity);
    return this.#update(scope, id, rules.parseProfileChanges(input));
  }

  async updateUser(scope: UserScope, id: string, input: unknown): Promise<User> {
    await this.#requireAdmin(scope);
    const changes = rules.parseUserChanges(input);
    return this.#update(scope, decodeIdOrNotFound(id, 'User'), changes);
  }

  async deleteUser(scope: UserScope, id: string): Promise<boolean> {
    requireCallerId(scope.identity);
    const userId = decodeIdOrNotFound(id, 'User');
    // Another user's account does not exist as far as a non-admin can tell.
    requireOwnerOrAdmin(scope.identity, userId, 'User', await this.#isAdmin(scope));
    const deletedAt = new Date();
    await withTransaction(this.#prisma, async (tx) => {
      const otherAdmins = await users.lockOtherAdmins(tx, userId);
      const user = await users.lockActiveUser(tx, userId);
      if (!user) throw notFound('User');
      if (!rules.mayDelete(user, otherAdmins))
        throw invalidState('The last administrator cannot be deleted', { reason: 'LAST_ADMIN' });
      await users.markDeleted(tx, userId, rules.tombstoneEmail(userId), deletedAt);
      await writeOutbox(tx, events.userDeleted(userId, deletedAt, scope.requestId));
    });
    scope.userById.clear(userId).prime(userId, null);
    return true;
  }

  async assignRole(scope: UserScope, userId: string, role: Role): Promise<User> {
    await this.#requireAdmin(scope);
    return this.#changeRoles(
      scope,
      decodeIdOrNotFound(userId, 'User'),
      (current) => rules.assignRole(current, role),
      false,
    );
  }

  async revokeRole(scope: UserScope, userId: string, role: Role): Promise<User> {
    await this.#requireAdmin(scope);
    return this.#changeRoles(
      scope,
      decodeIdOrNotFound(userId, 'User'),
      (current, otherAdmins) => rules.revokeRole(current, role, otherAdmins),
      role === 'ADMIN',
    );
  }

  // ---------- helpers ----------

  /**
   * ADMIN by the token and still ADMIN now. Roles travel in access tokens that live up to 15 minutes; the
   * service that owns roles does not let a demoted or deleted admin use what an old token still claims.
   */
  async #isAdmin(scope: UserScope): Promise<boolean> {
    if (!hasRole(scope.identity, 'ADMIN') || scope.identity.userId === null) return false;
    const id = decodeId(scope.identity.userId);
    const caller = id === null ? null : await scope.userById.load(id);
    return caller?.roles.includes('ADMIN') ?? false;
  }

  async #requireAdmin(scope: UserScope): Promise<void> {
    requireRole(scope.identity, 'ADMIN');
    if (!(await this.#isAdmin(scope))) throw forbidden('Requires role ADMIN');
  }

  async #update(scope: UserScope, id: bigint, requested: rules.ProfileChanges): Promise<User> {
    try {
      const user = await withTransaction(this.#prisma, async (tx) => {
        const current = await users.lockActiveUser(tx, id);
        if (!current) throw notFound('User');
        const changes = rules.effectiveChanges(current, requested);
        if (Object.keys(changes).length === 0) return current;
        // The common case of a taken address, answered without a failed statement; the catch below covers a race.
        if (changes.email !== undefined && (await users.emailInUse(tx, changes.email))) throw emailTaken();
        const updated = await users.updateUser(tx, id, changes);
        await writeOutbox(tx, events.userUpdated(updated, changes, scope.requestId));
        return updated;
      });
      scope.userById.clear(id).prime(id, user);
      return user;
    } catch (error) {
      if (isUniqueViolation(error, ['email'])) throw emailTaken();
      throw error;
    }
  }

  /**
   * Role changes lock the target row; one that may remove an admin first locks every admin (see
   * lockOtherAdmins), so two admins revoking each other at once cannot leave nobody in charge.
   */
  async #changeRoles(
    scope: UserScope,
    id: bigint,
    decide: (current: readonly Role[], otherAdmins: number) => rules.RoleChange,
    mayRemoveAdmin: boolean,
  ): Promise<User> {
    const user = await withTransaction(this.#prisma, async (tx) => {
      const otherAdmins = mayRemoveAdmin ? await users.lockOtherAdmins(tx, id) : 0;
      const current = await users.lockActiveUser(tx, id);
      if (!current) throw notFound('User');
      const change = decide(current.roles, otherAdmins);
      if (change.kind === 'unchanged') return current;
      if (change.kind === 'refused') throw refusal(change.reason);
      const updated = await users.updateUser(tx, id, { roles: change.roles });
      await writeOutbox(tx, events.userRolesChanged(updated, current.roles, scope.requestId));
      return updated;
    });
    scope.userById.clear(id).prime(id, user);
    return user;
  }
}

function refusal(reason: 'CUSTOMER_IS_PERMANENT' | 'LAST_ADMIN') {
  return reason === 'LAST_ADMIN'
    ? invalidState('The last administrator cannot lose the ADMIN role', { reason })
    : badUserInput('Every user keeps the CUSTOMER role', [{ field: 'role', message: 'CUSTOMER cannot be revoked' }]);
}
