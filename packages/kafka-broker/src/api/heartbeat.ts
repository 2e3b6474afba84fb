import { int16, int32, nstr, str, struct } from '../codec/schema.ts';
import { defineApi } from './types.ts';

interface Req {
  groupId: string;
  generationId: number;
  memberId: string;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
}

export const heartbeat = defineApi<Req, Res>({
  key: 12,
  name: 'Heartbeat',
  min: 0,
  max: 3,
  request: struct<Req>([
    ['groupId', str],
    ['generationId', int32],
    ['memberId', str],
    ['groupInstanceId', nstr, 3, Infinity, null],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16],
  ]),
  handle: (b, req) => ({
    throttleTimeMs: 0,
    errorCode: b.groups.heartbeat(req.groupId, req.generationId, req.memberId),
  }),
});
