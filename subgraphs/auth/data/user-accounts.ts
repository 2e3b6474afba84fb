import { type Config, IdentitySigner, ServiceClient } from '@mall/platform';
import type { Account, AccountDirectory, CallContext } from '../service.ts';

// Every internal field returns a User; asking for all provided fields lets AuthPayload.user carry them.
const ACCOUNT_FIELDS = 'id email name roles createdAt';

const CREATE_ACCOUNT = `mutation CreateAccount($input: CreateAccountInput!) { createAccount(input: $input) { ${ACCOUNT_FIELDS} } }`;
const VERIFY_CREDENTIALS = `query VerifyCredentials($email: String!, $password: String!) { verifyCredentials(email: $email, password: $password) { ${ACCOUNT_FIELDS} } }`;
const ACCOUNT_FOR_SESSION = `query AccountForSession($id: ID!) { accountForSession(id: $id) { ${ACCOUNT_FIELDS} } }`;

/** The user subgraph's internal (`@inaccessible`) fields, called directly with an identity signed as `auth`. */
export class UserSubgraphAccounts implements AccountDirectory {
  readonly #client: ServiceClient;

  constructor(client: ServiceClient) {
    this.#client = client;
  }

  static fromConfig(config: Config, internalSecret: string): UserSubgraphAccounts {
    return new UserSubgraphAccounts(
      new ServiceClient({
        url: config.subgraphs.user.url,
        target: 'user',
        signer: new IdentitySigner(internalSecret, 'auth'),
      }),
    );
  }

  async createAccount(
    input: { email: string; password: string; name: string | null },
    ctx: CallContext,
  ): Promise<Account> {
    const data = await this.#client.request<{ createAccount: Account }>(CREATE_ACCOUNT, { input }, ctx);
    return data.createAccount;
  }

  async verifyCredentials(email: string, password: string, ctx: CallContext): Promise<Account | null> {
    const data = await this.#client.request<{ verifyCredentials: Account | null }>(
      VERIFY_CREDENTIALS,
      { email, password },
      ctx,
    );
    return data.verifyCredentials;
  }

  async accountForSession(userId: string, ctx: CallContext): Promise<Account | null> {
    const data = await this.#client.request<{ accountForSession: Account | null }>(
      ACCOUNT_FOR_SESSION,
      { id: userId },
      ctx,
    );
    return data.accountForSession;
  }
}
