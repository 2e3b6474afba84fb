import { defineScript } from '@mall/platform';
import type { Redis } from 'ioredis';
import { numberDay, orderNumber } from '../domain/order.ts';
import { type Db, maxSerial } from './orders.ts';

/**
 * The day's next serial. With a floor (the database's highest serial for the day), first raises the counter
 * to it; without one, answers -1 when the counter does not exist (a new day, or a flushed Redis), so the
 * caller fetches the floor and asks again. The counter outlives its day by a day, then expires.
 */
const nextSerial = defineScript<[counter: string], [floor: string, ttlSeconds: number], number>({
  name: 'orderNextSerial',
  lua: `
    if ARGV[1] ~= '' then
      local current = tonumber(redis.call('GET', KEYS[1]) or '0')
      if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
    elseif redis.call('EXISTS', KEYS[1]) == 0 then
      return -1
    end
    local serial = redis.call('INCR', KEYS[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    return serial`,
});

const COUNTER_TTL_SECONDS = 2 * 24 * 3600;

export interface OrderNumber {
  readonly day: number;
  readonly serial: number;
  readonly text: string;
}

/**
 * Order numbers: a daily serial from Redis INCR, seeded from the database whenever Redis has no counter for
 * the day, so numbers keep increasing after a FLUSHALL. The unique index on (day, serial) has the last word:
 * a number that collides anyway (issued before a flush, committed after the reseed) is refused there, and the
 * caller asks again with `reseed`.
 */
export class OrderNumbers {
  readonly #redis: Redis;
  readonly #db: Db;

  constructor(redis: Redis, db: Db) {
    this.#redis = redis;
    this.#db = db;
  }

  async next(at: Date, options: { reseed?: boolean } = {}): Promise<OrderNumber> {
    const day = numberDay(at);
    const counter = [`order:number:${day}`] as [string];
    let serial = options.reseed ? -1 : await nextSerial(this.#redis, counter, ['', COUNTER_TTL_SECONDS]);
    if (serial < 0) {
      const floor = await maxSerial(this.#db, day);
      serial = await nextSerial(this.#redis, counter, [String(floor), COUNTER_TTL_SECONDS]);
    }
    return { day, serial, text: orderNumber(day, serial) };
  }
}
