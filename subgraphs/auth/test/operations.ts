// Shared by the tests that go through the router (auth-flow, faults).
// The contract's operations (../shared/contract/operations.graphql), verbatim.
export const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresIn user { id email name roles } }
}`;
export const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken expiresIn user { id email roles } }
}`;
export const REFRESH = `mutation Refresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken refreshToken expiresIn }
}`;
export const LOGOUT = `mutation Logout { logout }`;
export const ME = `query { me { id email name roles createdAt } }`;
export const DELETE_USER = `mutation DeleteUser($id: ID!) { deleteUser(id: $id) }`;

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}
export interface Registered extends Tokens {
  user: { id: string; email: string; name: string | null; roles: string[] };
}

let counter = 0;
export const uniqueEmail = (label: string) =>
  `${label}-${process.pid}-${Date.now().toString(36)}-${counter++}@example.com`;
export const PASSWORD = 'correct horse battery';
