import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { composeServices } from '@apollo/composition';
import { assertOutboxSnippet } from '@mall/events/testing';
import { parse, printSchema } from 'graphql';

const sdl = (subgraph: string) =>
  parse(readFileSync(new URL(`../../${subgraph}/schema.graphql`, import.meta.url), 'utf8'));

describe('auth schema', () => {
  it('keeps prisma/auth/events.prisma byte-identical to the canonical outbox snippet', async () => {
    await assertOutboxSnippet(new URL('../../../prisma/auth', import.meta.url));
  });

  it("composes with the user subgraph into the contract's auth operations", () => {
    const result = composeServices([
      { name: 'user', url: 'http://user/graphql', typeDefs: sdl('user') },
      { name: 'auth', url: 'http://auth/graphql', typeDefs: sdl('auth') },
    ]);
    assert.deepEqual(
      result.errors?.map((e) => e.message),
      undefined,
    );
    assert.ok(result.schema);
    const api = printSchema(result.schema.toAPISchema().toGraphQLJSSchema());
    for (const field of [
      'register(input: RegisterInput!): AuthPayload!',
      'login(email: String!, password: String!): AuthPayload!',
      'refreshToken(refreshToken: String!): AuthPayload!',
      'logout: Boolean!',
    ]) {
      assert.ok(api.includes(field), field);
    }
  });
});
