export type { SnowflakeOptions, SnowflakeParts } from './snowflake.ts';
export {
  assertWorkerId,
  decodeId,
  encodeId,
  MAX_WORKER_ID,
  parseSnowflake,
  SNOWFLAKE_EPOCH_MS,
  SnowflakeGenerator,
} from './snowflake.ts';
export type { ResolvedWorkerId, WorkerIdOptions } from './worker-id.ts';
export { resolveWorkerId } from './worker-id.ts';
