// What the auth flows need from the outside world. The data layer implements these over Postgres, Redis and
// the user subgraph; unit tests implement them in memory.
import type { Role } from '@mall/platform';
import type { StoredRefreshToken } from './refresh-tokens.ts';

/** An account as the user subgraph reports it. */
export interface Account {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
  readonly roles: readonly Role[];
  /** ISO-8601. */
  readonly createdAt: string;
}

export interface CallContext {
  readonly requestId: string;
}

export interface AccountDirectory {
  /** CONFLICT when the email is taken, BAD_USER_INPUT when the user subgraph refuses the input. */
  createAccount(input: { email: string; password: string; name: string | null }, ctx: CallContext): Promise<Account>;
  /** Null for an unknown email, a wrong password or a deleted account alike. */
  verifyCredentials(email: string, password: string, ctx: CallContext): Promise<Account | null>;
  /** The account's current state, or null once it is deleted. */
  accountForSession(userId: string, ctx: CallContext): Promise<Account | null>;
}

export type RevokeReason = 'logout' | 'reuse' | 'account_deleted';

export interface SessionStore {
  /** Starts a family with its first refresh token; returns the family id (the access token's `sid`). */
  open(input: { userId: string; tokenHash: Uint8Array<ArrayBuffer>; expiresAt: Date }): Promise<string>;
  find(tokenHash: Uint8Array<ArrayBuffer>): Promise<StoredRefreshToken | null>;
  /**
   * Spends `tokenId` and adds its successor, only if it is still unspent and unrevoked: of concurrent
   * rotations of one token exactly one returns true.
   */
  rotate(input: { tokenId: string; familyId: string; tokenHash: Uint8Array<ArrayBuffer>; expiresAt: Date; now: Date }): Promise<boolean>;
  /** Revokes the family and every token in it; `userId` restricts it to that user's family. */
  revokeFamily(familyId: string, reason: RevokeReason, options?: { userId?: string }): Promise<void>;
}

/** Who a failed login counts against. */
export interface LoginSubject {
  /** Normalized email: unknown addresses are limited exactly like real ones. */
  readonly email: string;
  /** Null when the router could not tell (then only the account limit applies). */
  readonly ip: string | null;
}

export interface LoginLimiter {
  /** Counts an attempt unless a limit is already reached; returns 0, or the seconds until one may retry. */
  attempt(subject: LoginSubject): Promise<number>;
  /** Credentials were right: the account's failures are forgiven and the attempt is uncounted. */
  succeeded(subject: LoginSubject): Promise<void>;
  /** The attempt never reached a verdict (e.g. the user subgraph was down): uncount it. */
  refund(subject: LoginSubject): Promise<void>;
}

export interface AccessTokenDenylist {
  /** Refuses the access token `jti` until `expiresAt` (unix seconds). */
  deny(jti: string, expiresAt: number): Promise<void>;
}
