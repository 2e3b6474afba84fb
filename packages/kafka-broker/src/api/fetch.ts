import { array, int8, int16, int32, int64, narray, recordList, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  replicaId: number;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel: number;
  sessionId: number;
  sessionEpoch: number;
  topics: Array<{
    topic: string;
    partitions: Array<{ partition: number; fetchOffset: number; partitionMaxBytes: number }>;
  }>;
}
interface PartRes {
  partitionIndex: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  abortedTransactions: null;
  preferredReadReplica: number;
  records: Buffer[] | null;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
  sessionId: number;
  responses: Array<{ topic: string; partitions: PartRes[] }>;
}

export const fetch = defineApi<Req, Res>({
  key: 1,
  name: 'Fetch',
  min: 0,
  max: 11,
  request: struct<Req>([
    ['replicaId', int32],
    ['maxWaitMs', int32],
    ['minBytes', int32],
    ['maxBytes', int32, 3, Infinity, 0x7fffffff],
    ['isolationLevel', int8, 4, Infinity, 0],
    ['sessionId', int32, 7, Infinity, 0],
    ['sessionEpoch', int32, 7, Infinity, -1],
    [
      'topics',
      array(
        struct([
          ['topic', str],
          [
            'partitions',
            array(
              struct([
                ['partition', int32],
                ['currentLeaderEpoch', int32, 9],
                ['fetchOffset', int64],
                ['logStartOffset', int64, 5],
                ['partitionMaxBytes', int32],
              ]),
            ),
          ],
        ]),
      ),
    ],
    [
      'forgottenTopicsData',
      array(
        struct([
          ['topic', str],
          ['partitions', array(int32)],
        ]),
      ),
      7,
    ],
    ['rackId', str, 11],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16, 7],
    ['sessionId', int32, 7],
    [
      'responses',
      array(
        struct([
          ['topic', str],
          [
            'partitions',
            array(
              struct([
                ['partitionIndex', int32],
                ['errorCode', int16],
                ['highWatermark', int64],
                ['lastStableOffset', int64, 4],
                ['logStartOffset', int64, 5],
                [
                  'abortedTransactions',
                  narray(
                    struct([
                      ['producerId', int64],
                      ['firstOffset', int64],
                    ]),
                  ),
                  4,
                ],
                ['preferredReadReplica', int32, 11],
                ['records', recordList],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  async handle(b, req) {
    const build = (): { res: Res; bytes: number; errors: boolean } => {
      let remaining = req.maxBytes;
      let bytes = 0;
      let errors = false;
      const responses = req.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p): PartRes => {
          const log = b.store.partition(t.topic, p.partition);
          if (!log) {
            errors = true;
            return {
              partitionIndex: p.partition,
              errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
              highWatermark: -1,
              lastStableOffset: -1,
              logStartOffset: -1,
              abortedTransactions: null,
              preferredReadReplica: -1,
              records: [],
            };
          }
          const limit = Math.min(p.partitionMaxBytes, remaining);
          // Like Kafka: the first partition with data may exceed the limits by one batch so a
          // batch larger than maxBytes can still be consumed; later ones must fit.
          const r =
            limit > 0 || bytes === 0
              ? log.read(p.fetchOffset, Math.max(limit, 0), bytes === 0)
              : { error: ErrorCode.NONE, records: [], bytes: 0 };
          if (r.error !== ErrorCode.NONE) errors = true;
          bytes += r.bytes;
          remaining -= r.bytes;
          return {
            partitionIndex: p.partition,
            errorCode: r.error,
            highWatermark: log.highWatermark,
            lastStableOffset: log.highWatermark,
            logStartOffset: log.logStartOffset,
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: r.records,
          };
        }),
      }));
      return { res: { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses }, bytes, errors };
    };
    const deadline = Date.now() + req.maxWaitMs;
    let out = build();
    while (out.bytes < Math.max(1, req.minBytes) && !out.errors && !b.closing) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await b.waitForData(
        req.topics.flatMap((t) =>
          t.partitions.map((p) => b.store.partition(t.topic, p.partition)).filter((l) => l !== undefined),
        ),
        left,
      );
      out = build();
    }
    return out.res;
  },
});
