import { GraphQLScalarType, Kind } from 'graphql';
import { badUserInput } from './errors.ts';

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_WITH_ZONE.test(value)) {
    throw badUserInput('DateTime must be an ISO-8601 string with a time zone, e.g. 2026-11-24T10:00:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badUserInput('DateTime is not a valid date');
  return date;
}

/** `DateTime`: ISO-8601 with time zone on the wire, `Date` in resolvers. Every subgraph declares `scalar DateTime`. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 timestamp with time zone, e.g. 2026-11-24T10:00:00.000Z',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw badUserInput('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});
