import { array, int16, int32, int64, narray, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  groupId: string;
  topics: Array<{ name: string; partitionIndexes: number[] }> | null;
}
interface PartRes {
  partitionIndex: number;
  committedOffset: number;
  metadata: string | null;
  errorCode: number;
}
interface Res {
  throttleTimeMs: number;
  topics: Array<{ name: string; partitions: PartRes[] }>;
  errorCode: number;
}

export const offsetFetch = defineApi<Req, Res>({
  key: 9,
  name: 'OffsetFetch',
  min: 0,
  max: 4,
  request: struct<Req>([
    ['groupId', str],
    [
      'topics',
      narray(
        struct([
          ['name', str],
          ['partitionIndexes', array(int32)],
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
                ['committedOffset', int64],
                ['metadata', nstr],
                ['errorCode', int16],
              ]),
            ),
          ],
        ]),
      ),
    ],
    ['errorCode', int16, 2],
  ]),
  handle(b, req) {
    const committed = b.store.committed(req.groupId);
    const wanted =
      req.topics ??
      [...(committed?.entries() ?? [])].map(([name, parts]) => ({ name, partitionIndexes: [...parts.keys()] }));
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      topics: wanted.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((p) => {
          const c = committed?.get(t.name)?.get(p);
          // No commit yet: offset -1 tells the client to apply its reset policy.
          return {
            partitionIndex: p,
            committedOffset: c?.offset ?? -1,
            metadata: c ? c.metadata : '',
            errorCode: ErrorCode.NONE,
          };
        }),
      })),
    };
  },
});
