import { array, int16, int32, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  groupId: string;
  memberId: string;
  members: Array<{ memberId: string; groupInstanceId: string | null }>;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
  members: Array<{ memberId: string; groupInstanceId: string | null; errorCode: number }>;
}

export const leaveGroup = defineApi<Req, Res>({
  key: 13,
  name: 'LeaveGroup',
  min: 0,
  max: 3,
  request: struct<Req>([
    ['groupId', str],
    ['memberId', str, 0, 2, ''],
    [
      'members',
      array(
        struct([
          ['memberId', str],
          ['groupInstanceId', nstr],
        ]),
      ),
      3,
      Infinity,
      [],
    ],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16],
    [
      'members',
      array(
        struct([
          ['memberId', str],
          ['groupInstanceId', nstr],
          ['errorCode', int16],
        ]),
      ),
      3,
    ],
  ]),
  handle(b, req, ctx) {
    if (ctx.apiVersion < 3)
      return { throttleTimeMs: 0, errorCode: b.groups.leave(req.groupId, req.memberId), members: [] };
    const members = req.members.map((m) => ({ ...m, errorCode: b.groups.leave(req.groupId, m.memberId) }));
    const errorCode =
      members.length > 0 && members.every((m) => m.errorCode !== ErrorCode.NONE)
        ? ErrorCode.UNKNOWN_MEMBER_ID
        : ErrorCode.NONE;
    return { throttleTimeMs: 0, errorCode, members };
  },
});
