import { array, bytes, int16, int32, nstr, str, struct } from '../codec/schema.ts';
import { defineApi } from './types.ts';

interface Req {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  assignments: Array<{ memberId: string; assignment: Buffer }>;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
  assignment: Buffer;
}

export const syncGroup = defineApi<Req, Res>({
  key: 14,
  name: 'SyncGroup',
  min: 0,
  max: 3,
  request: struct<Req>([
    ['groupId', str],
    ['generationId', int32],
    ['memberId', str],
    ['groupInstanceId', nstr, 3, Infinity, null],
    [
      'assignments',
      array(
        struct([
          ['memberId', str],
          ['assignment', bytes],
        ]),
      ),
    ],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16],
    ['assignment', bytes],
  ]),
  async handle(b, req) {
    const r = await b.groups.sync(req.groupId, req.generationId, req.memberId, req.assignments);
    return { throttleTimeMs: 0, ...r };
  },
});
