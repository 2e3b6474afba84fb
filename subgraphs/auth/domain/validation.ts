import { fromZodIssues } from '@mall/platform/errors';
import { z } from 'zod';

// Same bounds the user subgraph enforces; checked here too so a bad request is answered without a
// service call, and so a 10 KB string never reaches argon2 or the network.
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const NAME_MAX = 100;
const EMAIL_MAX = 254;

const email = z
  .string()
  .trim()
  .min(1, 'Email is required')
  .max(EMAIL_MAX, `Email must be at most ${EMAIL_MAX} characters`)
  .pipe(z.email('Email is not a valid address'))
  .transform((v) => v.toLowerCase());

export const RegisterInput = z.object({
  email,
  password: z
    .string()
    .min(PASSWORD_MIN, `Password must be at least ${PASSWORD_MIN} characters`)
    .max(PASSWORD_MAX, `Password must be at most ${PASSWORD_MAX} characters`),
  name: z
    .string()
    .trim()
    .max(NAME_MAX, `Name must be at most ${NAME_MAX} characters`)
    .nullish()
    .transform((v) => (v ? v : null)),
});
export type RegisterInput = z.output<typeof RegisterInput>;

// Login does not apply the registration policy: an account created under an older one (or the bootstrap
// admin) must still sign in. The upper bound only keeps huge strings away from argon2.
export const LoginInput = z.object({
  email,
  password: z
    .string()
    .min(1, 'Password is required')
    .max(PASSWORD_MAX * 8, 'Password is too long'),
});
export type LoginInput = z.output<typeof LoginInput>;

/** Parses or throws one BAD_USER_INPUT listing every offending field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodIssues(result.error.issues);
  return result.data;
}
