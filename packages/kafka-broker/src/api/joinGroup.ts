import { array, bytes, int16, int32, nstr, str, struct } from '../codec/schema.ts';
import type { JoinRequest, JoinResult } from '../group/coordinator.ts';
import { defineApi } from './types.ts';

type Res = JoinResult & { throttleTimeMs: number };

export const joinGroup = defineApi<JoinRequest, Res>({
  key: 11,
  name: 'JoinGroup',
  min: 0,
  max: 5,
  request: struct<JoinRequest>([
    ['groupId', str],
    ['sessionTimeoutMs', int32],
    ['rebalanceTimeoutMs', int32, 1, Infinity, -1],
    ['memberId', str],
    ['groupInstanceId', nstr, 5, Infinity, null],
    ['protocolType', str],
    [
      'protocols',
      array(
        struct([
          ['name', str],
          ['metadata', bytes],
        ]),
      ),
    ],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 2],
    ['errorCode', int16],
    ['generationId', int32],
    ['protocolName', str],
    ['leader', str],
    ['memberId', str],
    [
      'members',
      array(
        struct([
          ['memberId', str],
          ['groupInstanceId', nstr, 5],
          ['metadata', bytes],
        ]),
      ),
    ],
  ]),
  async handle(b, req, ctx) {
    // v0 has no rebalance timeout; Kafka uses the session timeout for it.
    if (req.rebalanceTimeoutMs < 0) req.rebalanceTimeoutMs = req.sessionTimeoutMs;
    const r = await b.groups.join(req, ctx.clientId, ctx.clientHost, ctx.apiVersion);
    return { ...r, throttleTimeMs: 0 };
  },
});
