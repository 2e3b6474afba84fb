import { array, int16, int32, int64, nbytes, nstr, str, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { parseProducedBatches } from '../storage/batch.ts';
import { defineApi } from './types.ts';

interface Req {
  transactionalId: string | null;
  acks: number;
  timeoutMs: number;
  topicData: Array<{ name: string; partitionData: Array<{ index: number; records: Buffer | null }> }>;
}
interface PartRes {
  index: number;
  errorCode: number;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
}
interface Res {
  responses: Array<{ name: string; partitionResponses: PartRes[] }>;
  throttleTimeMs: number;
}

export const produce = defineApi<Req, Res>({
  key: 0,
  name: 'Produce',
  min: 0,
  max: 7,
  request: struct<Req>([
    ['transactionalId', nstr, 3, Infinity, null],
    ['acks', int16],
    ['timeoutMs', int32],
    [
      'topicData',
      array(
        struct([
          ['name', str],
          [
            'partitionData',
            array(
              struct([
                ['index', int32],
                ['records', nbytes],
              ]),
            ),
          ],
        ]),
      ),
    ],
  ]),
  response: struct<Res>([
    [
      'responses',
      array(
        struct([
          ['name', str],
          [
            'partitionResponses',
            array(
              struct([
                ['index', int32],
                ['errorCode', int16],
                ['baseOffset', int64],
                ['logAppendTimeMs', int64, 2],
                ['logStartOffset', int64, 5],
              ]),
            ),
          ],
        ]),
      ),
    ],
    ['throttleTimeMs', int32, 1],
  ]),
  // `records` may be views into a per-connection buffer that the next frame
  // overwrites: use them only before the first await (see Connection.take).
  async handle(b, req) {
    const written: number[] = [];
    const fail = (index: number, errorCode: number): PartRes => ({
      index,
      errorCode,
      baseOffset: -1,
      logAppendTimeMs: -1,
      logStartOffset: -1,
    });
    const validAcks = req.acks === -1 || req.acks === 0 || req.acks === 1;
    const responses = req.topicData.map((t) => {
      let logs = b.store.topic(t.name);
      if (!logs && b.autoCreateTopics && b.validTopicName(t.name) === ErrorCode.NONE)
        logs = b.createTopic(t.name, b.numPartitions);
      return {
        name: t.name,
        partitionResponses: t.partitionData.map((p): PartRes => {
          // Transactions are not implemented; refuse rather than pretend.
          if (req.transactionalId !== null) return fail(p.index, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
          if (!validAcks) return fail(p.index, ErrorCode.INVALID_REQUIRED_ACKS);
          const log = logs?.[p.index];
          if (!log) return fail(p.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          if (!p.records) return fail(p.index, ErrorCode.CORRUPT_MESSAGE);
          if (p.records.length > b.maxMessageBytes) return fail(p.index, ErrorCode.MESSAGE_TOO_LARGE);
          const parsed = parseProducedBatches(p.records);
          if (parsed.error !== ErrorCode.NONE) return fail(p.index, parsed.error);
          let baseOffset = -1;
          const fresh = [];
          for (const batch of parsed.batches) {
            const seq = log.checkSequence(batch);
            if (seq?.error !== undefined) return fail(p.index, seq.error);
            if (seq?.dupOffset !== undefined) {
              if (baseOffset < 0) baseOffset = seq.dupOffset;
              // A retry can arrive while the original is still being fsynced: its
              // ack must wait for that too (older segments are synced when they roll).
              written.push(log.activeFd);
              continue;
            }
            fresh.push(batch);
          }
          if (fresh.length > 0) {
            const first = log.append(fresh);
            if (baseOffset < 0) baseOffset = first;
            written.push(log.activeFd);
            b.metrics.messagesIn(
              t.name,
              fresh.reduce((n, x) => n + x.lastOffsetDelta + 1, 0),
            );
          }
          return {
            index: p.index,
            errorCode: ErrorCode.NONE,
            baseOffset,
            logAppendTimeMs: -1,
            logStartOffset: log.logStartOffset,
          };
        }),
      };
    });
    if (req.acks === 0) return null;
    // acks=1 and acks=-1 are the same on a single node: acknowledged means fsynced,
    // whatever the visibility (in 'written' mode consumers may see the batch first).
    if (written.length > 0) await b.flusher.sync(written);
    return { responses, throttleTimeMs: 0 };
  },
});
