import { int16, int32, int64, nstr, struct } from '../codec/schema.ts';
import { ErrorCode } from '../errors.ts';
import { defineApi } from './types.ts';

interface Req {
  transactionalId: string | null;
  transactionTimeoutMs: number;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

export const initProducerId = defineApi<Req, Res>({
  key: 22,
  name: 'InitProducerId',
  min: 0,
  max: 1,
  request: struct<Req>([
    ['transactionalId', nstr],
    ['transactionTimeoutMs', int32],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32],
    ['errorCode', int16],
    ['producerId', int64],
    ['producerEpoch', int16],
  ]),
  handle(b, req) {
    // Transactions are deliberately not implemented; a non-retriable error makes
    // a transactional kafkajs producer fail fast instead of hanging.
    if (req.transactionalId !== null)
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        producerId: -1,
        producerEpoch: -1,
      };
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: b.store.allocateProducerId(), producerEpoch: 0 };
  },
});
