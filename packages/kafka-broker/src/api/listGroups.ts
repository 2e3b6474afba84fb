import { array, int16, int32, str, struct } from '../codec/schema.ts';
import { defineApi } from './types.ts';

interface Res {
  throttleTimeMs: number;
  errorCode: number;
  groups: Array<{ groupId: string; protocolType: string }>;
}

export const listGroups = defineApi<Record<string, never>, Res>({
  key: 16,
  name: 'ListGroups',
  min: 0,
  max: 2,
  request: struct([]),
  response: struct<Res>([
    ['throttleTimeMs', int32, 1],
    ['errorCode', int16],
    [
      'groups',
      array(
        struct([
          ['groupId', str],
          ['protocolType', str],
        ]),
      ),
    ],
  ]),
  handle(b) {
    const groups = b.groups.list();
    // Groups that only have committed offsets (no live members since restart) still exist for Kafka.
    const known = new Set(groups.map((g) => g.groupId));
    for (const g of b.store.groupsWithOffsets())
      if (!known.has(g)) groups.push({ groupId: g, protocolType: 'consumer' });
    return { throttleTimeMs: 0, errorCode: 0, groups };
  },
});
