import {
  type Config,
  defineServiceOperation,
  IdentitySigner,
  ROLES,
  type ServiceCallOptions,
  ServiceClient,
} from '@mall/platform';
import { z } from 'zod';

// The user subgraph's internal (`@inaccessible`) fields, called directly with an identity signed as `auth`.

/** An account as the user subgraph reports it. */
export const Account = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  roles: z.array(z.enum(ROLES)),
  /** ISO-8601. */
  createdAt: z.string(),
});
export type Account = z.output<typeof Account>;

// Every internal field returns a User; asking for all provided fields lets AuthPayload.user carry them.
const ACCOUNT_FIELDS = 'id email name roles createdAt';

export interface NewAccount {
  readonly email: string;
  readonly password: string;
  readonly name: string | null;
}

const createAccountOperation = defineServiceOperation<{ input: NewAccount }, { createAccount: Account }>(
  `mutation CreateAccount($input: CreateAccountInput!) { createAccount(input: $input) { ${ACCOUNT_FIELDS} } }`,
  z.object({ createAccount: Account }),
);

const verifyCredentialsOperation = defineServiceOperation<
  { email: string; password: string },
  { verifyCredentials: Account | null }
>(
  `query VerifyCredentials($email: String!, $password: String!) { verifyCredentials(email: $email, password: $password) { ${ACCOUNT_FIELDS} } }`,
  z.object({ verifyCredentials: Account.nullable() }),
);

const accountForSessionOperation = defineServiceOperation<{ id: string }, { accountForSession: Account | null }>(
  `query AccountForSession($id: ID!) { accountForSession(id: $id) { ${ACCOUNT_FIELDS} } }`,
  z.object({ accountForSession: Account.nullable() }),
);

export function createUserClient(config: Config, internalSecret: string): ServiceClient {
  return new ServiceClient({
    url: config.subgraphs.user.url,
    target: 'user',
    signer: new IdentitySigner(internalSecret, 'auth'),
  });
}

/** CONFLICT when the email is taken, BAD_USER_INPUT when the user subgraph refuses the input. */
export async function createAccount(
  users: ServiceClient,
  call: ServiceCallOptions,
  input: NewAccount,
): Promise<Account> {
  return (await createAccountOperation(users, call, { input })).createAccount;
}

/** Null for an unknown email, a wrong password or a deleted account alike. */
export async function verifyCredentials(
  users: ServiceClient,
  call: ServiceCallOptions,
  email: string,
  password: string,
): Promise<Account | null> {
  return (await verifyCredentialsOperation(users, call, { email, password })).verifyCredentials;
}

/** The account's current state, or null once it is deleted. */
export async function accountForSession(
  users: ServiceClient,
  call: ServiceCallOptions,
  userId: string,
): Promise<Account | null> {
  return (await accountForSessionOperation(users, call, { id: userId })).accountForSession;
}
