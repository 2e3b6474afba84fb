import { array, bool, int16, int32, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  topics: Array<{
    name: string;
    numPartitions: number;
    replicationFactor: number;
    assignments: Array<{ partitionIndex: number; brokerIds: number[] }>;
    configs: Array<{ name: string; value: string | null }>;
  }>;
  timeoutMs: number;
  validateOnly: boolean;
}
interface Res {
  throttleTimeMs: number;
  topics: Array<{ name: string; errorCode: number; errorMessage: string | null }>;
}

export const createTopics = defineApi<Req, Res>({
  key: 19,
  name: 'CreateTopics',
  min: 0,
  max: 3,
  request: struct<Req>([
    [
      'topics',
      array(
        struct([
          ['name', str],
          ['numPartitions', int32],
          ['replicationFactor', int16],
          [
            'assignments',
            array(
              struct([
                ['partitionIndex', int32],
                ['brokerIds', array(int32)],
              ]),
            ),
          ],
          [
            'configs',
            array(
              struct([
                ['name', str],
                ['value', nstr],
              ]),
            ),
          ],
        ]),
      ),
    ],
    ['timeoutMs', int32],
    ['validateOnly', bool, 1, Infinity, false],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 2],
    [
      'topics',
      array(
        struct([
          ['name', str],
          ['errorCode', int16],
          ['errorMessage', nstr, 1],
        ]),
      ),
    ],
  ]),
  handle(b, req) {
    const seen = new Set<string>();
    const topics = req.topics.map((t) => {
      const fail = (errorCode: number, errorMessage: string) => ({ name: t.name, errorCode, errorMessage });
      const nameError = b.validTopicName(t.name);
      if (nameError !== ErrorCode.NONE) return fail(nameError, `invalid topic name '${t.name}'`);
      if (seen.has(t.name)) return fail(ErrorCode.INVALID_REQUEST, 'topic listed twice');
      seen.add(t.name);
      if (b.store.topic(t.name)) return fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${t.name}' already exists.`);
      const partitions =
        t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? b.numPartitions : t.numPartitions;
      if (partitions <= 0 || partitions > 10000)
        return fail(ErrorCode.INVALID_PARTITIONS, 'number of partitions must be between 1 and 10000');
      if (t.replicationFactor !== -1 && t.replicationFactor !== 1 && t.assignments.length === 0)
        return fail(ErrorCode.INVALID_REPLICATION_FACTOR, 'single-node broker: replication factor must be 1');
      if (!req.validateOnly) b.createTopic(t.name, partitions);
      return { name: t.name, errorCode: ErrorCode.NONE, errorMessage: null };
    });
    return { throttleTimeMs: 0, topics };
  },
});
