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
  // As Kafka answers (GroupCoordinator.handleLeaveGroup, LeaveGroupResponse): v3 reports each member's
  // outcome with a top-level NONE; v0–v2 carry one member and answer its code at the top level. The
  // difference matters to kafkajs 2.2.4: its v3 parser leaves the top-level check as a detached promise, so
  // a top-level error there becomes an unhandled rejection that ends the client's process.
  handle(b, req, ctx) {
    if (!req.groupId) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    if (ctx.apiVersion < 3)
      return { throttleTimeMs: 0, errorCode: b.groups.leave(req.groupId, req.memberId), members: [] };
    const members = req.members.map((m) => ({ ...m, errorCode: b.groups.leave(req.groupId, m.memberId) }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, members };
  },
});
