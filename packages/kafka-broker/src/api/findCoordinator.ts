import { int8, int16, int32, nstr, str, struct } from '../codec/schema.ts';
import { defineApi } from './types.ts';

interface Req {
  key: string;
  keyType: number;
}
interface Res {
  throttleTimeMs: number;
  errorCode: number;
  errorMessage: string | null;
  nodeId: number;
  host: string;
  port: number;
}

export const findCoordinator = defineApi<Req, Res>({
  key: 10,
  name: 'FindCoordinator',
  min: 0,
  max: 2,
  request: struct<Req>([
    ['key', str],
    ['keyType', int8, 1, Infinity, 0],
  ]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16],
    ['errorMessage', nstr, 1],
    ['nodeId', int32],
    ['host', str],
    ['port', int32],
  ]),
  // Single node: this broker coordinates every group (and would every transaction).
  handle: (b) => ({
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    nodeId: 0,
    host: b.advertisedHost,
    port: b.port,
  }),
});
