import { createHash } from 'node:crypto';
import { defineScript } from '@mall/platform';
import type { Redis } from 'ioredis';
import type { LoginFailurePolicy, LoginSubject } from '../domain/login-policy.ts';

// Check and count in one script: concurrent guesses cannot all slip past a check that ran before any of
// them was counted. Returns 0 (counted) or the seconds until the fullest exceeded window ends.
// KEYS: the account counter, then optionally the IP counter. ARGV: window, account limit, IP limit.
const attemptScript = defineScript<string[], number[], number>({
  name: 'authLoginAttempt',
  lua: `
local window = tonumber(ARGV[1])
local retry = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then redis.call('EXPIRE', key, window); ttl = window end
    if ttl > retry then retry = ttl end
  end
end
if retry > 0 then return retry end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
end
return 0
`,
});

// Uncounts an attempt. ARGV[1] = 'forgive' also clears the account's earlier failures (a successful login).
// Never DECRs a missing key: that would create a counter with no expiry.
const releaseScript = defineScript<string[], ['forgive' | 'refund'], number>({
  name: 'authLoginRelease',
  lua: `
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[1] == 'forgive' then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
`,
});

// The account and IP counters of one attempt hash to different Cluster slots; that is fine on one Redis, and
// a Cluster deployment would need a hash tag or one script call per counter.

/** Redis key of an account's counter: a digest, so no email address is written to Redis. */
export function accountCounterKey(email: string): string {
  const digest = createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('base64url');
  return `auth:login-failures:account:${digest}`;
}

export const ipCounterKey = (ip: string) => `auth:login-failures:ip:${ip}`;

// Fixed-window failed-login counters in Redis, per account and per client IP.

function counterKeys(policy: LoginFailurePolicy, subject: LoginSubject): string[] {
  const keys = [accountCounterKey(subject.email)];
  if (policy.perIp !== null && subject.ip) keys.push(ipCounterKey(subject.ip));
  return keys;
}

/** Counts an attempt unless a limit is already reached; returns 0, or the seconds until one may retry. */
export async function countLoginAttempt(
  redis: Redis,
  policy: LoginFailurePolicy,
  subject: LoginSubject,
): Promise<number> {
  const keys = counterKeys(policy, subject);
  const limits = [policy.perAccount, policy.perIp ?? 0].slice(0, keys.length);
  return Number(await attemptScript(redis, keys, [policy.windowSeconds, ...limits]));
}

/** Credentials were right: the account's failures are forgiven and the attempt is uncounted. */
export async function forgiveLoginAttempt(
  redis: Redis,
  policy: LoginFailurePolicy,
  subject: LoginSubject,
): Promise<void> {
  await releaseScript(redis, counterKeys(policy, subject), ['forgive']);
}

/** The attempt never reached a verdict (e.g. the user subgraph was down): uncount it. */
export async function refundLoginAttempt(
  redis: Redis,
  policy: LoginFailurePolicy,
  subject: LoginSubject,
): Promise<void> {
  await releaseScript(redis, counterKeys(policy, subject), ['refund']);
}
