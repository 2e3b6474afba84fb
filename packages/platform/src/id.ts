/**
 * A GraphQL `ID` in an input, as zod: exactly what `encodeId` produces (1 up to 2^63 − 1, no sign, no leading
 * zero), parsed to the bigint the database uses; anything else is "must be an id" on its field. One model so
 * every subgraph refuses the same spellings `decodeId` refuses. Pure (zod only), importable from `domain/` as
 * `@mall/platform/id`.
 */
import { z } from 'zod';
import { decodeId } from './ids/snowflake.ts';

export const Id = z.string().transform((text, ctx) => {
  const id = decodeId(text);
  if (id === null) {
    ctx.addIssue({ code: 'custom', message: 'must be an id' });
    return z.NEVER;
  }
  return id;
});

/** The same rule without zod, for a hot path that checks by hand. */
export { decodeId } from './ids/snowflake.ts';
