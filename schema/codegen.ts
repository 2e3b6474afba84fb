/**
 * Generates each subgraph's resolver types (`subgraphs/<name>/resolvers/generated/types.ts`) from its
 * `schema.graphql` with GraphQL Code Generator, so renaming an argument or a field fails `tsc` at the resolver.
 * Checked in like `schema/supergraph.graphql`: a stale file fails `--check` (CI) and the unit test.
 *   node schema/codegen.ts           write every subgraph's file
 *   node schema/codegen.ts --check   exit 1 naming each checked-in file that differs
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import type { SubgraphName } from '@mall/platform';
import { ROOT, subgraphSources } from './compose.ts';

/** Inside `resolvers/` next to the resolvers that import it; `**\/generated` is already outside Biome. */
const OUTPUT = 'resolvers/generated/types.ts';

interface SubgraphTypes {
  /** The context interface exported by the subgraph's `context.ts`. */
  readonly context: string;
  /**
   * GraphQL type → the model its resolvers really receive as parent and return (`<file>#<export>`, the file
   * relative to the subgraph folder). Types not listed are the plain generated object types.
   */
  readonly mappers: Readonly<Record<string, string>>;
}

/** Every subgraph with a schema needs an entry, so a new one cannot go without resolver types. */
const SUBGRAPHS: Partial<Record<SubgraphName, SubgraphTypes>> = {
  auth: {
    context: 'AuthContext',
    // AuthService answers with plain objects; the User in them is the account the user subgraph returned.
    mappers: { AuthPayload: 'service.ts#AuthPayload', User: 'service.ts#Account' },
  },
  cart: {
    context: 'CartContext',
    mappers: {
      Cart: 'domain/cart.ts#Cart',
      CartItem: 'domain/cart.ts#CartItem',
      CheckoutCart: 'service.ts#CheckoutCart',
      CheckoutCartLine: 'service.ts#CheckoutCartLine',
      User: 'service.ts#UserReference',
    },
  },
  checkout: {
    context: 'CheckoutContext',
    // checkout answers an Order reference (its id); the order subgraph resolves the rest.
    mappers: {},
  },
  order: {
    context: 'OrderContext',
    mappers: {
      Order: 'domain/order.ts#Order',
      OrderItem: 'domain/order.ts#OrderLine',
      OrderStatusChange: 'domain/order.ts#StatusChange',
      Address: 'domain/order.ts#Address',
      OrderConnection: 'service.ts#OrderConnection',
      User: 'service.ts#UserReference',
    },
  },
  payment: {
    context: 'PaymentContext',
    // Order here is only a reference: its id, to which Order.payment attaches the newest payment.
    mappers: { Payment: 'domain/payment.ts#Payment', Order: 'service.ts#OrderReference' },
  },
  user: {
    context: 'UserContext',
    mappers: { User: 'domain/user.ts#User', UserConnection: 'service.ts#UserConnection' },
  },
  product: {
    context: 'ProductContext',
    mappers: {
      Product: 'domain/catalog.ts#ProductEntry',
      ProductSnapshot: 'domain/catalog.ts#ProductEntry',
      Category: 'domain/catalog.ts#Category',
      ProductConnection: 'service.ts#ProductConnection',
      Reservation: 'domain/stock.ts#Reservation',
      ReservationLine: 'domain/stock.ts#ReservationLine',
    },
  },
  flashsale: {
    context: 'FlashSaleContext',
    mappers: { FlashSale: 'domain/sale.ts#FlashSale', FlashSalePurchase: 'domain/sale.ts#Purchase' },
  },
};

export interface GeneratedFile {
  /** Relative to the repository root. */
  readonly path: string;
  readonly content: string;
}

function codegenConfig(name: SubgraphName, types: SubgraphTypes) {
  // Import paths in the generated file are relative to it: two levels below the subgraph folder.
  const fromOutput = (target: string) => relative(dirname(OUTPUT), target);
  return {
    schema: `subgraphs/${name}/schema.graphql`,
    plugins: ['typescript', 'typescript-resolvers'],
    config: {
      federation: true,
      // Node strips types and tsc runs with verbatimModuleSyntax: type-only imports, string unions, no enums.
      useTypeImports: true,
      enumsAsTypes: true,
      contextType: `${fromOutput('context.ts')}#${types.context}`,
      mappers: Object.fromEntries(Object.entries(types.mappers).map(([type, model]) => [type, fromOutput(model)])),
      // Imported as `User as UserModel`, beside the generated `User` object type.
      mapperTypeSuffix: 'Model',
      scalars: {
        ID: 'string',
        // DateTimeScalar parses input into a Date and serializes either a Date (user's domain) or the ISO
        // string auth relays from the user subgraph.
        DateTime: { input: 'Date', output: 'Date | string' },
      },
      // Every Query and Mutation field needs a resolver: a field added to the schema fails tsc until it has one.
      avoidOptionals: { query: true, mutation: true },
    },
  };
}

/** The files the schemas produce now, in subgraph order. */
export async function generateResolverTypes(): Promise<GeneratedFile[]> {
  const files: GeneratedFile[] = [];
  for (const { name } of subgraphSources()) {
    const types = SUBGRAPHS[name];
    if (!types) throw new Error(`subgraphs/${name} has a schema but no entry in schema/codegen.ts SUBGRAPHS`);
    const path = `subgraphs/${name}/${OUTPUT}`;
    const [output]: { content: string }[] = await generate(
      { cwd: ROOT, silent: true, generates: { [path]: codegenConfig(name, types) } },
      false,
    );
    if (!output) throw new Error(`codegen produced nothing for ${path}`);
    const header = `// Generated by \`npm run codegen\` (schema/codegen.ts) from subgraphs/${name}/schema.graphql. Do not edit.\n`;
    files.push({ path, content: `${header}${output.content.trimEnd()}\n` });
  }
  return files;
}

/** Paths of the checked-in files that differ from `files` (or are missing). */
export function staleFiles(files: readonly GeneratedFile[]): string[] {
  return files
    .filter(({ path, content }) => {
      const file = join(ROOT, path);
      return !existsSync(file) || readFileSync(file, 'utf8') !== content;
    })
    .map(({ path }) => path);
}

if (import.meta.main) {
  const files = await generateResolverTypes();
  if (process.argv.includes('--check')) {
    const stale = staleFiles(files);
    for (const path of stale) console.error(`${path} is stale: run \`npm run codegen\` and commit it.`);
    if (stale.length > 0) process.exit(1);
    console.error('generated resolver types are up to date.');
  } else {
    for (const { path, content } of files) {
      mkdirSync(dirname(join(ROOT, path)), { recursive: true });
      writeFileSync(join(ROOT, path), content);
      console.error(`wrote ${path}`);
    }
  }
}
