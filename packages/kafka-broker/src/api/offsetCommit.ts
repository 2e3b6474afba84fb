import { array, int16, int32, int64, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  groupId: string;
  generationId: number;
  memberId: string;
  topics: Array<{
    name: string;
    partitions: Array<{ partitionIndex: number; committedOffset: number; committedMetadata: string | null }>;
  }>;
}
interface Res {
  throttleTimeMs: number;
  topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; errorCode: number }> }>;
}

export const offsetCommit = defineApi<Req, Res>({
  key: 8,
  name: 'OffsetCommit',
  min: 0,
  max: 5,
  request: struct<Req>([
    ['groupId', str],
    ['generationId', int32, 1, Infinity, -1],
    ['memberId', str, 1, Infinity, ''],
    ['retentionTimeMs', int64, 2, 4],
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
                ['committedOffset', int64],
                ['commitTimestamp', int64, 1, 1],
                ['committedMetadata', nstr],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 3],
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
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  async handle(b, req) {
    const groupError = b.groups.validateCommit(
      req.groupId,
      req.generationId,
      req.memberId,
      b.store.committed(req.groupId) !== undefined,
    );
    let wrote = false;
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        if (groupError !== ErrorCode.NONE) return { partitionIndex: p.partitionIndex, errorCode: groupError };
        if (!b.store.partition(t.name, p.partitionIndex))
          return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        b.store.commitOffset(req.groupId, t.name, p.partitionIndex, {
          offset: p.committedOffset,
          metadata: p.committedMetadata,
        });
        wrote = true;
        return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE };
      }),
    }));
    if (wrote) await b.flusher.sync([b.store.offsetsFile]);
    return { throttleTimeMs: 0, topics };
  },
});
