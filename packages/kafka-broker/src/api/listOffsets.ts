import { array, int8, int16, int32, int64, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  replicaId: number;
  isolationLevel: number;
  topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; timestamp: number }> }>;
}
interface PartRes {
  partitionIndex: number;
  errorCode: number;
  oldStyleOffsets: number[];
  timestamp: number;
  offset: number;
}
interface Res {
  throttleTimeMs: number;
  topics: Array<{ name: string; partitions: PartRes[] }>;
}

const LATEST = -1;
const EARLIEST = -2;

export const listOffsets = defineApi<Req, Res>({
  key: 2,
  name: 'ListOffsets',
  min: 0,
  max: 3,
  request: struct<Req>([
    ['replicaId', int32],
    ['isolationLevel', int8, 2, Infinity, 0],
    [
      'topics',
      array(
        struct([
          ['name', str],
          [
            'partitions',
            array(
              struct([
                ['partitionIndex', int32],
                ['timestamp', int64],
                ['maxNumOffsets', int32, 0, 0],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 2],
    [
      'topics',
      array(
        struct([
          ['name', str],
          [
            'partitions',
            array(
              struct([
                ['partitionIndex', int32],
                ['errorCode', int16],
                ['oldStyleOffsets', array(int64), 0, 0],
                ['timestamp', int64, 1],
                ['offset', int64, 1],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  handle(b, req) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p): PartRes => {
          const log = b.store.partition(t.name, p.partitionIndex);
          if (!log)
            return {
              partitionIndex: p.partitionIndex,
              errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
              oldStyleOffsets: [],
              timestamp: -1,
              offset: -1,
            };
          let offset: number;
          let timestamp = -1;
          if (p.timestamp === LATEST) offset = log.highWatermark;
          else if (p.timestamp === EARLIEST) offset = log.logStartOffset;
          else ({ offset, timestamp } = log.offsetForTimestamp(p.timestamp));
          return {
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCode.NONE,
            oldStyleOffsets: offset >= 0 ? [offset] : [],
            timestamp,
            offset,
          };
        }),
      })),
    };
  },
});
