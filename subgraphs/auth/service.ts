import { type Identity, type Role, rateLimited, requireUser, unauthenticated } from '@mall/platform';
import type { AccessTokenClaimsInput, IssuedAccessToken } from './domain/access-tokens.ts';
import {
  decideRefresh,
  generateRefreshToken,
  hashRefreshToken,
  isWellFormedRefreshToken,
  type StoredRefreshToken,
} from './domain/refresh-tokens.ts';
import { LoginInput, parseInput, RegisterInput } from './domain/validation.ts';

// Ports: what the use cases need from the outside world. The data layer implements them over Postgres,
// Redis, the signing key and the user subgraph; unit tests implement them in memory.

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
  rotate(input: {
    tokenId: string;
    familyId: string;
    tokenHash: Uint8Array<ArrayBuffer>;
    expiresAt: Date;
    now: Date;
  }): Promise<boolean>;
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

export interface AccessTokenSigner {
  issue(input: AccessTokenClaimsInput, now?: Date): Promise<IssuedAccessToken>;
}

export interface AuthPayload {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly user: Account;
}

export interface AuthServiceDeps {
  readonly accounts: AccountDirectory;
  readonly sessions: SessionStore;
  readonly limiter: LoginLimiter;
  readonly denylist: AccessTokenDenylist;
  readonly accessTokens: AccessTokenSigner;
  readonly refreshTokenTtlSeconds: number;
  readonly now?: () => Date;
}

/** Who is asking, as the subgraph context knows it. */
export interface Caller {
  readonly identity: Identity;
  readonly requestId: string;
  /** The request's logger, for security events operators should see. */
  readonly logger?: { warn(obj: object, msg: string): void };
}

// One message for every credential failure, so the answer never tells whether an account exists.
const invalidCredentials = () => unauthenticated('Invalid email or password');
const invalidRefreshToken = () => unauthenticated('Invalid or expired refresh token');

/**
 * The auth flows. Network calls to the user subgraph never happen inside a database transaction: each store
 * call is its own short transaction, and the conditional updates make the order of events safe.
 */
export class AuthService {
  readonly #deps: AuthServiceDeps;
  readonly #now: () => Date;

  constructor(deps: AuthServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
  }

  async register(rawInput: unknown, caller: Caller): Promise<AuthPayload> {
    const input = parseInput(RegisterInput, rawInput);
    const account = await this.#deps.accounts.createAccount(input, { requestId: caller.requestId });
    return this.#openSession(account);
  }

  async login(rawInput: unknown, caller: Caller): Promise<AuthPayload> {
    const { email, password } = parseInput(LoginInput, rawInput);
    const subject = { email, ip: caller.identity.clientIp };
    const retryAfter = await this.#deps.limiter.attempt(subject);
    if (retryAfter > 0) {
      caller.logger?.warn({ ip: subject.ip, retryAfter }, 'login refused: too many failures');
      throw rateLimited(retryAfter);
    }

    let account: Account | null;
    try {
      account = await this.#deps.accounts.verifyCredentials(email, password, { requestId: caller.requestId });
    } catch (err) {
      await this.#deps.limiter.refund(subject);
      throw err;
    }
    if (!account) throw invalidCredentials();
    await this.#deps.limiter.succeeded(subject);
    return this.#openSession(account);
  }

  async refresh(refreshToken: string, caller: Caller): Promise<AuthPayload> {
    if (!isWellFormedRefreshToken(refreshToken)) throw invalidRefreshToken();
    const { sessions } = this.#deps;
    const stored = await sessions.find(hashRefreshToken(refreshToken));
    const decision = decideRefresh(stored, this.#now());
    if (decision.kind === 'reject' || !stored) throw invalidRefreshToken();
    if (decision.kind === 'reuse') {
      await sessions.revokeFamily(stored.familyId, 'reuse');
      caller.logger?.warn(
        { userId: stored.userId, sessionId: stored.familyId },
        'spent refresh token presented again; session revoked',
      );
      throw invalidRefreshToken();
    }

    // Roles come from the account as it is now, not as it was at login; a deleted account ends here.
    const account = await this.#deps.accounts.accountForSession(stored.userId, { requestId: caller.requestId });
    if (!account) {
      await sessions.revokeFamily(stored.familyId, 'account_deleted');
      throw invalidRefreshToken();
    }

    const next = generateRefreshToken();
    const now = this.#now();
    const rotated = await sessions.rotate({
      tokenId: stored.id,
      familyId: stored.familyId,
      tokenHash: hashRefreshToken(next),
      expiresAt: this.#refreshExpiry(now),
      now,
    });
    if (!rotated) {
      // Another request spent this token between our read and our update: the same token was used twice.
      await sessions.revokeFamily(stored.familyId, 'reuse');
      caller.logger?.warn(
        { userId: stored.userId, sessionId: stored.familyId },
        'one refresh token used concurrently; session revoked',
      );
      throw invalidRefreshToken();
    }
    const access = await this.#deps.accessTokens.issue(
      { userId: account.id, roles: account.roles, sessionId: stored.familyId },
      now,
    );
    return { accessToken: access.token, refreshToken: next, expiresIn: access.expiresIn, user: account };
  }

  /** Ends exactly the session whose access token the router verified for this request. */
  async logout(caller: Caller): Promise<boolean> {
    const userId = requireUser(caller.identity);
    const session = caller.identity.session;
    if (!session) throw unauthenticated('Logout needs the access token of a session');
    await this.#deps.denylist.deny(session.tokenId, session.expiresAt);
    await this.#deps.sessions.revokeFamily(session.id, 'logout', { userId });
    return true;
  }

  async #openSession(account: Account): Promise<AuthPayload> {
    const refreshToken = generateRefreshToken();
    const now = this.#now();
    const sessionId = await this.#deps.sessions.open({
      userId: account.id,
      tokenHash: hashRefreshToken(refreshToken),
      expiresAt: this.#refreshExpiry(now),
    });
    const access = await this.#deps.accessTokens.issue({ userId: account.id, roles: account.roles, sessionId }, now);
    return { accessToken: access.token, refreshToken, expiresIn: access.expiresIn, user: account };
  }

  #refreshExpiry(now: Date): Date {
    return new Date(now.getTime() + this.#deps.refreshTokenTtlSeconds * 1000);
  }
}
