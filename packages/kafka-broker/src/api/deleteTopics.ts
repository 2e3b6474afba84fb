import { array, int16, int32, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  topicNames: string[];
  timeoutMs: number;
}
interface Res {
  throttleTimeMs: number;
  responses: Array<{ name: string; errorCode: number }>;
}

export const deleteTopics = defineApi<Req, Res>({
  key: 20,
  name: 'DeleteTopics',
  min: 0,
  max: 3,
  request: struct<Req>([
    ['topicNames', array(str)],
    ['timeoutMs', int32],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    [
      'responses',
      array(
        struct([
          ['name', str],
          ['errorCode', int16],
        ]),
      ),
    ],
  ]),
  handle: (b, req) => ({
    throttleTimeMs: 0,
    responses: req.topicNames.map((name) => ({
      name,
      errorCode: b.deleteTopic(name) ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    })),
  }),
});
