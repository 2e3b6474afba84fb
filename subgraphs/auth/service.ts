import { randomBytes } from 'node:crypto';
import {
  decodeId,
  encodeId,
  type RequestScope,
  rateLimited,
  requireUser,
  type ServiceCallOptions,
  type ServiceClient,
  unauthenticated,
  withTransaction,
} from '@mall/platform';
import type { SubgraphKit } from '@mall/platform/kit';
import type { AuthConfig } from './config.ts';
import { type RevocationMirror, recordDeniedAccessToken } from './data/access-revocations.ts';
import { signAccessToken } from './data/access-tokens.ts';
import { forgiveLoginFailures, loginRetryAfter, recordLoginFailure } from './data/login-limiter.ts';
import type { AuthPrisma } from './data/prisma.ts';
import * as sessions from './data/session-store.ts';
import type { SigningKey } from './data/signing-keys.ts';
import * as accounts from './data/user-accounts.ts';
import type { AccessTokenSettings } from './domain/access-tokens.ts';
import { type LoginFailurePolicy, loginFailurePolicy } from './domain/login-policy.ts';
import {
  decideRefresh,
  generateRefreshToken,
  isWellFormedRefreshToken,
  type RandomBytes,
  refreshTokenExpiry,
} from './domain/refresh-tokens.ts';
import { LoginInput, parseInput, RegisterInput } from './domain/validation.ts';

/** An account as the user subgraph reports it (the `User` that auth's payloads carry). */
export type { Account } from './data/user-accounts.ts';

export interface AuthPayload {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly user: accounts.Account;
}

export interface AuthServiceDeps {
  readonly prisma: AuthPrisma;
  /** Copies revocations to Redis for the router once they are committed. */
  readonly revocations: Pick<RevocationMirror, 'publish'>;
  /** The user subgraph, which owns accounts and passwords. */
  readonly users: ServiceClient;
  readonly signingKey: SigningKey;
  readonly accessTokens: AccessTokenSettings;
  readonly refreshTokenTtlSeconds: number;
  readonly loginPolicy: LoginFailurePolicy;
  readonly nextId: () => bigint;
  /** Tests move the clock; production reads it. */
  readonly now?: () => Date;
  readonly random?: RandomBytes;
}

/** The service as the subgraph runs it: the kit's database, ids and settings, plus the parts setup loaded. */
export function createAuthService(
  kit: SubgraphKit<AuthPrisma, AuthConfig>,
  parts: { signingKey: SigningKey; revocations: RevocationMirror; loginFailurePolicy?: Partial<LoginFailurePolicy> },
): AuthService {
  const { config, settings } = kit;
  return new AuthService({
    signingKey: parts.signingKey,
    revocations: parts.revocations,
    loginPolicy: loginFailurePolicy(config.rateLimit.ipPerMinute, parts.loginFailurePolicy),
    prisma: kit.prisma,
    users: accounts.createUserClient(config, kit.internalSecret),
    accessTokens: { ...config.accessTokens, ttlSeconds: settings.accessTokenTtlSeconds },
    refreshTokenTtlSeconds: settings.refreshTokenTtlSeconds,
    nextId: () => kit.ids.next(),
  });
}

// One message for every credential failure, so the answer never tells whether an account exists.
const invalidCredentials = () => unauthenticated('Invalid email or password');
const invalidRefreshToken = () => unauthenticated('Invalid or expired refresh token');

/** What a call to the user subgraph carries of the request: its id, for tracing across services. */
const callOf = (scope: RequestScope): ServiceCallOptions => ({ requestId: scope.requestId });

/**
 * The auth flows. The service owns every transaction; calls to the user subgraph and to Redis never happen
 * inside one, and the conditional updates make the order of events safe.
 */
export class AuthService {
  readonly #deps: AuthServiceDeps;
  readonly #now: () => Date;
  readonly #random: RandomBytes;

  constructor(deps: AuthServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#random = deps.random ?? randomBytes;
  }

  async register(scope: RequestScope, rawInput: unknown): Promise<AuthPayload> {
    const input = parseInput(RegisterInput, rawInput);
    const account = await accounts.createAccount(this.#deps.users, callOf(scope), input);
    return this.#openSession(account);
  }

  async login(scope: RequestScope, rawInput: unknown): Promise<AuthPayload> {
    const { prisma, loginPolicy, users } = this.#deps;
    const { email, password } = parseInput(LoginInput, rawInput);
    const subject = { email, ip: scope.identity.clientIp };
    const retryAfter = await loginRetryAfter(prisma, loginPolicy, subject, this.#now());
    if (retryAfter > 0) {
      scope.logger.warn({ ip: subject.ip, retryAfter }, 'login refused: too many failures');
      throw rateLimited(retryAfter);
    }
    // Only a verdict of "wrong credentials" counts: a call that failed (user subgraph down) counts nothing.
    const account = await accounts.verifyCredentials(users, callOf(scope), email, password);
    if (!account) {
      await recordLoginFailure(prisma, loginPolicy, subject, this.#now());
      throw invalidCredentials();
    }
    await forgiveLoginFailures(prisma, subject);
    return this.#openSession(account);
  }

  async refresh(scope: RequestScope, refreshToken: string): Promise<AuthPayload> {
    if (!isWellFormedRefreshToken(refreshToken)) throw invalidRefreshToken();
    const { prisma } = this.#deps;
    const stored = await sessions.findRefreshToken(prisma, sessions.hashRefreshToken(refreshToken));
    const decision = decideRefresh(stored, this.#now());
    if (decision.kind === 'reject' || !stored) throw invalidRefreshToken();
    const session = { userId: encodeId(stored.userId), sessionId: encodeId(stored.familyId) };
    if (decision.kind === 'reuse') {
      await this.#revokeFamily(stored.familyId, 'reuse');
      scope.logger.warn(session, 'spent refresh token presented again; session revoked');
      throw invalidRefreshToken();
    }

    // Roles come from the account as it is now, not as it was at login; a deleted account ends here.
    const account = await accounts.accountForSession(this.#deps.users, callOf(scope), session.userId);
    if (!account) {
      await this.#revokeFamily(stored.familyId, 'account_deleted');
      throw invalidRefreshToken();
    }

    const next = generateRefreshToken(this.#random);
    const now = this.#now();
    const successor = {
      id: this.#deps.nextId(),
      tokenHash: sessions.hashRefreshToken(next),
      expiresAt: this.#expiry(now),
    };
    const rotated = await withTransaction(prisma, async (tx) => {
      const spent = await sessions.spendRefreshToken(tx, { tokenId: stored.id, successorId: successor.id, now });
      if (spent) await sessions.insertRefreshToken(tx, stored.familyId, successor);
      return spent;
    });
    if (!rotated) {
      // Another request spent this token between our read and our update: the same token was used twice.
      await this.#revokeFamily(stored.familyId, 'reuse');
      scope.logger.warn(session, 'one refresh token used concurrently; session revoked');
      throw invalidRefreshToken();
    }
    const access = await this.#signAccessToken(account, session.sessionId, now);
    return { accessToken: access.token, refreshToken: next, expiresIn: access.expiresIn, user: account };
  }

  /**
   * Ends exactly the session whose access token the router verified for this request: the token's denial and
   * the family's revocation commit together in the database, then the denial is copied to Redis (or, if Redis
   * is away, by the mirror once it is back; the router refuses every token meanwhile).
   */
  async logout(scope: RequestScope): Promise<boolean> {
    const userId = requireUser(scope.identity);
    const session = scope.identity.session;
    if (!session) throw unauthenticated('Logout needs the access token of a session');
    // Ids that did not come from us name no family of this user: nothing to revoke but the token.
    const familyId = decodeId(session.id);
    const user = decodeId(userId);
    const now = this.#now();
    const denied = await withTransaction(this.#deps.prisma, async (tx) => {
      if (familyId !== null && user !== null)
        await sessions.revokeFamily(tx, { familyId, reason: 'logout', now, userId: user });
      return recordDeniedAccessToken(tx, session.tokenId, session.expiresAt, now.getTime());
    });
    await this.#deps.revocations.publish([denied]);
    return true;
  }

  async #openSession(account: accounts.Account): Promise<AuthPayload> {
    const userId = decodeId(account.id);
    if (userId === null) throw new Error(`user id ${account.id} is not a snowflake`);
    const refreshToken = generateRefreshToken(this.#random);
    const now = this.#now();
    const familyId = this.#deps.nextId();
    await sessions.insertFamily(this.#deps.prisma, {
      id: familyId,
      userId,
      firstToken: {
        id: this.#deps.nextId(),
        tokenHash: sessions.hashRefreshToken(refreshToken),
        expiresAt: this.#expiry(now),
      },
    });
    const access = await this.#signAccessToken(account, encodeId(familyId), now);
    return { accessToken: access.token, refreshToken, expiresIn: access.expiresIn, user: account };
  }

  #revokeFamily(familyId: bigint, reason: sessions.RevokeReason, userId?: bigint): Promise<boolean> {
    const now = this.#now();
    return withTransaction(this.#deps.prisma, (tx) =>
      sessions.revokeFamily(tx, { familyId, reason, now, ...(userId !== undefined ? { userId } : {}) }),
    );
  }

  #signAccessToken(account: accounts.Account, sessionId: string, now: Date) {
    const { signingKey, accessTokens } = this.#deps;
    return signAccessToken(signingKey, accessTokens, { userId: account.id, roles: account.roles, sessionId }, now);
  }

  #expiry(now: Date): Date {
    return refreshTokenExpiry(now, this.#deps.refreshTokenTtlSeconds);
  }
}
