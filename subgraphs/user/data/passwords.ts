import { randomBytes } from 'node:crypto';
import { hash, type Options, verify } from '@node-rs/argon2';

/** argon2id cost. The defaults are OWASP's minimum for argon2id (m=19 MiB, t=2, p=1), about 20–40 ms here. */
export interface PasswordPolicy {
  /** KiB of memory per hash. */
  readonly memoryCost: number;
  /** Passes over the memory. */
  readonly timeCost: number;
  readonly parallelism: number;
}

export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

// `Algorithm` is an ambient const enum, which isolated modules cannot reference by name; 2 is Argon2id.
const ARGON2ID = 2 as NonNullable<Options['algorithm']>;

/**
 * Hashes and checks passwords with argon2id (on libuv's thread pool, off the event loop). Checking an unknown
 * account costs the same as checking a wrong password: it runs against a dummy hash made with the same policy.
 */
export class PasswordHasher {
  readonly #options: Options;
  readonly #dummy: Promise<string>;

  constructor(policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY) {
    this.#options = {
      algorithm: ARGON2ID,
      memoryCost: policy.memoryCost,
      timeCost: policy.timeCost,
      parallelism: policy.parallelism,
    };
    this.#dummy = this.hash(randomBytes(32).toString('base64url'));
  }

  hash(password: string): Promise<string> {
    return hash(password, this.#options);
  }

  /** False for a wrong password and for a hash that cannot be read (never throws on bad input). */
  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  }

  /** Spends a verification's time on nothing, for lookups that found no account. Always false. */
  async verifyNothing(password: string): Promise<false> {
    await this.verify(await this.#dummy, password);
    return false;
  }
}
