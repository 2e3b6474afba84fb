import type { ChainableCommander, Redis } from 'ioredis';

/** What a script may be called with; ioredis sends numbers as their decimal text. */
export type ScriptArg = string | number;

/** A Lua script bound to its keys and arguments: `(redis, keys, args) => result`, or many runs at once. */
export interface RedisScript<Keys extends readonly string[], Args extends readonly ScriptArg[], Result> {
  (redis: Redis, keys: Keys, args: Args): Promise<Result>;
  /**
   * Runs the script once per call, all in one pipeline: one round trip however many calls (each still its own
   * EVALSHA, atomic on its own, not together). The replies in call order; if any call failed, rejects with the
   * first failure (the others may have run). Under Redis Cluster every call's keys must live on one node, as
   * for any pipeline.
   */
  many(redis: Redis, calls: readonly (readonly [keys: Keys, args: Args])[]): Promise<Result[]>;
  /**
   * Registers the script on `redis` now rather than on first use: required before an auto-pipelining client
   * sends its first command (see `createRedis`'s `autoPipelining`).
   */
  prepare(redis: Redis): void;
}

// Which script each client knows under which name: defining one name twice with different Lua is a bug.
const defined = new WeakMap<Redis, Map<string, string>>();

interface ScriptCommands {
  [name: string]: (numberOfKeys: number, ...keysThenArgs: ScriptArg[]) => Promise<unknown>;
}

/**
 * Declares a Lua script once, with the types of its keys, arguments and reply. The returned function
 * registers the script on each client it is given (ioredis `defineCommand`), so calls run it by EVALSHA and
 * fall back to EVAL when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH). Keys go through the
 * client's `keyPrefix` like any other command's; arguments do not.
 *
 * `Result` is what the Lua returns as Redis converts it (integers to numbers, tables to arrays): the script
 * and its declared type must agree. Every key the script touches must be passed in `keys`, never built
 * inside the Lua: that is what prefixes them and what Redis Cluster routes by. Under Cluster all keys of one
 * call must also hash to the same slot, so keys used together need a shared hash tag (`{user:42}:a`,
 * `{user:42}:b`).
 */
export function defineScript<Keys extends readonly string[], Args extends readonly ScriptArg[], Result>(options: {
  /** The command name on the client: unique per script across the repository (prefix it with the owner). */
  readonly name: string;
  readonly lua: string;
}): RedisScript<Keys, Args, Result> {
  const { name, lua } = options;
  /** The script's command on `redis`, registered on first use. */
  const define = (redis: Redis): void => {
    let scripts = defined.get(redis);
    if (!scripts) {
      scripts = new Map();
      defined.set(redis, scripts);
    }
    const known = scripts.get(name);
    if (known === undefined) {
      // No fixed numberOfKeys: the count travels with each call, so one script can take a varying number.
      redis.defineCommand(name, { lua });
      scripts.set(name, lua);
    } else if (known !== lua) {
      throw new Error(`Redis script ${name} is already defined with different Lua`);
    }
  };
  const commandOf = (target: Redis | ChainableCommander) => {
    const command = (target as unknown as ScriptCommands)[name];
    if (!command) throw new Error(`Redis script ${name} is not defined on this client`);
    return command;
  };
  const script = async (redis: Redis, keys: Keys, args: Args) => {
    define(redis);
    return (await commandOf(redis).call(redis, keys.length, ...keys, ...args)) as Result;
  };
  script.many = async (redis: Redis, calls: readonly (readonly [keys: Keys, args: Args])[]) => {
    if (calls.length === 0) return [];
    // Before the pipeline is made: it copies the client's defined commands when it is constructed.
    define(redis);
    const pipeline = redis.pipeline();
    const command = commandOf(pipeline);
    for (const [keys, args] of calls) void command.call(pipeline, keys.length, ...keys, ...args);
    const replies = (await pipeline.exec()) ?? [];
    return calls.map((_, i) => {
      const [error, reply] = replies[i] ?? [new Error(`Redis script ${name}: no reply`)];
      if (error) throw error;
      return reply as Result;
    });
  };
  script.prepare = define;
  return script;
}
