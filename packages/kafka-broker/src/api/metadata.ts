import { array, bool, int16, int32, narray, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  topics: Array<{ name: string }> | null;
  allowAutoTopicCreation: boolean;
}
interface Partition {
  errorCode: number;
  partitionIndex: number;
  leaderId: number;
  replicaNodes: number[];
  isrNodes: number[];
  offlineReplicas: number[];
}
interface Res {
  throttleTimeMs: number;
  brokers: Array<{ nodeId: number; host: string; port: number; rack: string | null }>;
  clusterId: string | null;
  controllerId: number;
  topics: Array<{ errorCode: number; name: string; isInternal: boolean; partitions: Partition[] }>;
}

export const metadata = defineApi<Req, Res>({
  key: 3,
  name: 'Metadata',
  min: 0,
  max: 6,
  // v0 has no null array: an empty list means "all topics" there.
  request: struct<Req>([
    ['topics', narray(struct([['name', str]]))],
    ['allowAutoTopicCreation', bool, 4, Infinity, true],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 3],
    [
      'brokers',
      array(
        struct([
          ['nodeId', int32],
          ['host', str],
          ['port', int32],
          ['rack', nstr, 1],
        ]),
      ),
    ],
    ['clusterId', nstr, 2],
    ['controllerId', int32, 1],
    [
      'topics',
      array(
        struct([
          ['errorCode', int16],
          ['name', str],
          ['isInternal', bool, 1],
          [
            'partitions',
            array(
              struct([
                ['errorCode', int16],
                ['partitionIndex', int32],
                ['leaderId', int32],
                ['replicaNodes', array(int32)],
                ['isrNodes', array(int32)],
                ['offlineReplicas', array(int32), 5],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  handle(b, req, ctx) {
    const all = req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0);
    const names = all ? b.store.topicNames() : req.topics!.map((t) => t.name);
    const topics = names.map((name) => {
      let logs = b.store.topic(name);
      if (!logs && !all) {
        const err = b.validTopicName(name);
        if (err !== ErrorCode.NONE) return { errorCode: err, name, isInternal: false, partitions: [] };
        if (b.autoCreateTopics && req.allowAutoTopicCreation) logs = b.createTopic(name, b.numPartitions);
      }
      if (!logs) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, isInternal: false, partitions: [] };
      return {
        errorCode: ErrorCode.NONE,
        name,
        isInternal: false,
        partitions: logs.map((_, i) => ({
          errorCode: 0,
          partitionIndex: i,
          leaderId: 0,
          replicaNodes: [0],
          isrNodes: [0],
          offlineReplicas: [],
        })),
      };
    });
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: 0, host: b.advertisedHost, port: b.port, rack: null }],
      clusterId: b.store.clusterId,
      controllerId: 0,
      topics,
    };
  },
});
