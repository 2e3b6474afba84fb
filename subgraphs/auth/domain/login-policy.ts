/** How many failed logins are tolerated before RATE_LIMITED, within one fixed window. */
export interface LoginFailurePolicy {
  readonly windowSeconds: number;
  /** Failures per email address, known or not: slows password guessing against one account. */
  readonly perAccount: number;
  /** Failures per client IP across all accounts: slows credential stuffing. Null turns it off. */
  readonly perIp: number | null;
}

export const DEFAULT_LOGIN_FAILURE_POLICY: LoginFailurePolicy = { windowSeconds: 15 * 60, perAccount: 5, perIp: 50 };

/** Who a failed login counts against. */
export interface LoginSubject {
  /** Normalized email: unknown addresses are limited exactly like real ones. */
  readonly email: string;
  /** Null when the router could not tell (then only the account limit applies). */
  readonly ip: string | null;
}
