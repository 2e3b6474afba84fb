import { defineSubgraph } from '@mall/platform/kit';
import { ensureBootstrapAdmin } from './bootstrap.ts';
import { userConfig } from './config.ts';
import { createContext } from './context.ts';
import { PrismaClient } from './data/generated/client.ts';
import { PasswordHasher, type PasswordPolicy } from './data/passwords.ts';
import { resolvers } from './resolvers/index.ts';
import { UserService } from './service.ts';

export type { BootstrapAdmin } from './bootstrap.ts';

const subgraph = defineSubgraph({
  name: 'user',
  module: import.meta.url,
  prisma: PrismaClient,
  config: userConfig,
  trustedServices: ['auth'],
  outbox: true,
  async setup(kit, options: { passwordPolicy?: PasswordPolicy }) {
    const passwords = new PasswordHasher(options.passwordPolicy);
    const nextId = () => kit.ids.next();
    const admin = await ensureBootstrapAdmin({ ...kit, admin: kit.settings.admin, passwords, nextId });
    const users = new UserService({ prisma: kit.prisma, passwords, nextId });
    return { resolvers, context: createContext(users), info: admin };
  },
});
export default subgraph;

if (import.meta.main) await subgraph.main();
