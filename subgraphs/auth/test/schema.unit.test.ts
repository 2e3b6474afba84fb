import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { composeServices } from '@apollo/composition';
import { parse, printSchema } from 'graphql';

const sdl = (subgraph: string) =>
  parse(readFileSync(new URL(`../../${subgraph}/schema.graphql`, import.meta.url), 'utf8'));

describe('auth schema', () => {
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
