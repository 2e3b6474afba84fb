import { array, bool, bytes, int16, int32, str, struct } from '../codec/schema.ts';
import type { Coordinator } from '../group/coordinator.ts';
import { defineApi } from './types.ts';

interface Req {
  groups: string[];
}
interface Res {
  throttleTimeMs: number;
  groups: Array<ReturnType<Coordinator['describe']>>;
}

export const describeGroups = defineApi<Req, Res>({
  key: 15,
  name: 'DescribeGroups',
  min: 0,
  max: 2,
  request: struct<Req>([
    ['groups', array(str)],
    ['includeAuthorizedOperations', bool, 3],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    [
      'groups',
      array(
        struct([
          ['errorCode', int16],
          ['groupId', str],
          ['groupState', str],
          ['protocolType', str],
          ['protocolData', str],
          [
            'members',
            array(
              struct([
                ['memberId', str],
                ['clientId', str],
                ['clientHost', str],
                ['memberMetadata', bytes],
                ['memberAssignment', bytes],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  handle: (b, req) => ({ throttleTimeMs: 0, groups: req.groups.map((g) => b.groups.describe(g)) }),
});
