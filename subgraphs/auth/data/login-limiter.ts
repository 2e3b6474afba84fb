import { createHash } from 'node:crypto';
import type { LoginFailurePolicy, LoginSubject } from '../domain/login-policy.ts';
import type { AuthDb } from './prisma.ts';

// Fixed-window failed-login counters, per account and per client IP, in auth's database: a lockout survives
// a Redis restart, and login works while Redis is away. Only failures are counted (after the password was
// checked), so any number of concurrent correct logins pass; the price is that guesses already in flight when
// the limit is reached still get their answer (at most the concurrency over the limit).

/** An account's counter key: a digest, so no email address is stored. */
export function accountCounterKey(email: string): string {
  const digest = createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('base64url');
  return `account:${digest}`;
}

export const ipCounterKey = (ip: string) => `ip:${ip}`;

function counters(policy: LoginFailurePolicy, subject: LoginSubject): { key: string; limit: number }[] {
  const keys = [{ key: accountCounterKey(subject.email), limit: policy.perAccount }];
  if (policy.perIp !== null && subject.ip) keys.push({ key: ipCounterKey(subject.ip), limit: policy.perIp });
  return keys;
}

/** 0 when the subject may try now, else the whole seconds until the fullest exceeded window ends. */
export async function loginRetryAfter(
  db: AuthDb,
  policy: LoginFailurePolicy,
  subject: LoginSubject,
  now: Date = new Date(),
): Promise<number> {
  const limits = counters(policy, subject);
  const rows = await db.loginFailureCounter.findMany({
    where: { key: { in: limits.map((c) => c.key) }, windowEndsAt: { gt: now } },
  });
  let retry = 0;
  for (const row of rows) {
    const limit = limits.find((c) => c.key === row.key)?.limit ?? Number.POSITIVE_INFINITY;
    if (row.failures >= limit) retry = Math.max(retry, Math.ceil((row.windowEndsAt.getTime() - now.getTime()) / 1000));
  }
  return retry;
}

/** Counts one failed login against the account and the IP; a window that has ended starts afresh. */
export async function recordLoginFailure(
  db: AuthDb,
  policy: LoginFailurePolicy,
  subject: LoginSubject,
  now: Date = new Date(),
): Promise<void> {
  const windowEndsAt = new Date(now.getTime() + policy.windowSeconds * 1000);
  for (const { key } of counters(policy, subject)) {
    // One statement per counter: the row lock serialises concurrent failures, so none is lost.
    await db.$executeRaw`
      INSERT INTO "login_failure_counters" ("key", "failures", "window_ends_at") VALUES (${key}, 1, ${windowEndsAt})
      ON CONFLICT ("key") DO UPDATE SET
        "failures" = CASE WHEN "login_failure_counters"."window_ends_at" <= ${now} THEN 1
                          ELSE "login_failure_counters"."failures" + 1 END,
        "window_ends_at" = CASE WHEN "login_failure_counters"."window_ends_at" <= ${now} THEN EXCLUDED."window_ends_at"
                                ELSE "login_failure_counters"."window_ends_at" END`;
  }
}

/** Credentials were right: the account's failures are forgiven (the IP's stay: it may be guessing elsewhere). */
export async function forgiveLoginFailures(db: AuthDb, subject: LoginSubject): Promise<void> {
  await db.loginFailureCounter.deleteMany({ where: { key: accountCounterKey(subject.email) } });
}
