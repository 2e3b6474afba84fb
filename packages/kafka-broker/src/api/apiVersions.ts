import { array, int16, int32, struct } from '../codec/schema.ts';
import { defineApi } from './types.ts';

interface Res {
  errorCode: number;
  apiKeys: Array<{ apiKey: number; minVersion: number; maxVersion: number }>;
  throttleTimeMs: number;
}

export const apiVersions = defineApi<Record<string, never>, Res>({
  key: 18,
  name: 'ApiVersions',
  min: 0,
  max: 2,
  request: struct([]),
  response: struct<Res>([
    ['errorCode', int16],
    [
      'apiKeys',
      array(
        struct([
          ['apiKey', int16],
          ['minVersion', int16],
          ['maxVersion', int16],
        ]),
      ),
    ],
    ['throttleTimeMs', int32, 1],
  ]),
  handle: (b) => ({ errorCode: 0, apiKeys: b.supportedApis(), throttleTimeMs: 0 }),
});
