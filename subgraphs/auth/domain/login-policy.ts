/** How many failed logins are tolerated before RATE_LIMITED, within one fixed window. */
export interface LoginFailurePolicy {
  readonly windowSeconds: number;
  /** Failures per email address, known or not: slows password guessing against one account. */
  readonly perAccount: number;
  /** Failures per client IP across all accounts: slows credential stuffing. Null turns it off. */
  readonly perIp: number | null;
}

export const DEFAULT_LOGIN_FAILURE_POLICY: LoginFailurePolicy = { windowSeconds: 15 * 60, perAccount: 5, perIp: 50 };

/**
 * The product's policy with the deployment's and a caller's adjustments: RATE_LIMIT_IP_PER_MINUTE=0 turns every
 * per-IP limit off (per-account limits always stay); tests may tighten or loosen the rest.
 */
export function loginFailurePolicy(
  ipPerMinute: number,
  overrides: Partial<LoginFailurePolicy> = {},
): LoginFailurePolicy {
  return { ...DEFAULT_LOGIN_FAILURE_POLICY, ...(ipPerMinute === 0 ? { perIp: null } : {}), ...overrides };
}

/** Who a failed login counts against. */
export interface LoginSubject {
  /** Normalized email: unknown addresses are limited exactly like real ones. */
  readonly email: string;
  /** Null when the router could not tell (then only the account limit applies). */
  readonly ip: string | null;
}
