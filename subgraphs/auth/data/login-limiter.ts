import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LoginFailurePolicy } from '../domain/login-policy.ts';
import type { LoginLimiter, LoginSubject } from '../service.ts';

// Check and count in one script: concurrent guesses cannot all slip past a check that ran before any of
// them was counted. Returns 0 (counted) or the seconds until the fullest exceeded window ends.
// KEYS: the account counter, then optionally the IP counter. ARGV: window, account limit, IP limit.
const ATTEMPT = `
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
`;

// Uncounts an attempt. ARGV[1] = 'forgive' also clears the account's earlier failures (a successful login).
// Never DECRs a missing key: that would create a counter with no expiry.
const RELEASE = `
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[1] == 'forgive' then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
`;

interface LimiterCommands {
  authLoginAttempt(numKeys: number, ...args: (string | number)[]): Promise<number>;
  authLoginRelease(numKeys: number, ...args: string[]): Promise<number>;
}

/** Redis key of an account's counter: a digest, so no email address is written to Redis. */
export function accountCounterKey(email: string): string {
  const digest = createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('base64url');
  return `auth:login-failures:account:${digest}`;
}

export const ipCounterKey = (ip: string) => `auth:login-failures:ip:${ip}`;

/** Fixed-window failed-login counters in Redis, per account and per client IP. */
export class RedisLoginLimiter implements LoginLimiter {
  readonly #redis: Redis & LimiterCommands;
  readonly #policy: LoginFailurePolicy;

  constructor(redis: Redis, policy: LoginFailurePolicy) {
    // Scripts run by SHA after the first call; defining them again on a shared client is harmless.
    redis.defineCommand('authLoginAttempt', { lua: ATTEMPT });
    redis.defineCommand('authLoginRelease', { lua: RELEASE });
    this.#redis = redis as Redis & LimiterCommands;
    this.#policy = policy;
  }

  #keys(subject: LoginSubject): string[] {
    const keys = [accountCounterKey(subject.email)];
    if (this.#policy.perIp !== null && subject.ip) keys.push(ipCounterKey(subject.ip));
    return keys;
  }

  async attempt(subject: LoginSubject): Promise<number> {
    const keys = this.#keys(subject);
    const limits = [this.#policy.perAccount, this.#policy.perIp ?? 0].slice(0, keys.length);
    return Number(await this.#redis.authLoginAttempt(keys.length, ...keys, this.#policy.windowSeconds, ...limits));
  }

  async succeeded(subject: LoginSubject): Promise<void> {
    const keys = this.#keys(subject);
    await this.#redis.authLoginRelease(keys.length, ...keys, 'forgive');
  }

  async refund(subject: LoginSubject): Promise<void> {
    const keys = this.#keys(subject);
    await this.#redis.authLoginRelease(keys.length, ...keys, 'refund');
  }
}
