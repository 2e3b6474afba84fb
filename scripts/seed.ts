// `npm run seed`: fills a running stack with a demo catalog through the public API (the router), signed in as
// the bootstrap admin: a category tree and 48 products with prices, images and stock. Idempotent: categories are
// found by slug and products by name (among the admin's own), so a second run creates nothing.
//
//   npm run seed                       against http://127.0.0.1:$PORT/graphql (PORT defaults to 4000)
//   SEED_URL=https://… npm run seed    against another router
//
// The admin password comes from MALL_ADMIN_PASSWORD, else from the development secret the stack generated.
import { configSection, devSecret, loadConfig } from '@mall/platform';
import { userConfig } from '../subgraphs/user/config.ts';

interface DemoProduct {
  readonly name: string;
  readonly description: string;
  readonly priceAmount: number;
  readonly stock: number;
}

/** Root → sub-categories → what each sells: names stay stable, since a re-run matches on them. */
const CATALOG: Record<string, Record<string, readonly string[]>> = {
  Electronics: {
    Phones: ['Aurora X1 Smartphone', 'Pocket Mini Phone', 'Rugged Outdoor Phone', 'Foldable Z Phone'],
    Audio: ['Noise-Cancelling Headphones', 'True Wireless Earbuds', 'Bluetooth Party Speaker', 'Studio Microphone'],
    Wearables: ['Fitness Band Pro', 'Smartwatch Classic', 'Sleep Tracker Ring', 'Kids GPS Watch'],
  },
  Home: {
    Kitchen: ['Cast Iron Wok', 'Electric Kettle 1.7L', 'Rice Cooker Deluxe', 'Chef Knife Set'],
    Furniture: ['Oak Side Table', 'Ergonomic Office Chair', 'Floor Lamp Arc', 'Bamboo Bookshelf'],
    Bedding: ['Silk Pillowcase', 'Down Duvet Queen', 'Linen Sheet Set', 'Memory Foam Pillow'],
  },
  Fashion: {
    Shoes: ['Canvas Sneakers', 'Trail Running Shoes', 'Leather Loafers', 'Wool Slippers'],
    Bags: ['Everyday Backpack', 'Leather Tote Bag', 'Travel Duffel', 'Crossbody Phone Bag'],
    Outerwear: ['Puffer Jacket', 'Rain Shell', 'Denim Jacket', 'Wool Overcoat'],
  },
  Beauty: {
    Skincare: ['Hydrating Serum', 'Sunscreen SPF 50', 'Gentle Cleanser', 'Night Repair Cream'],
    Makeup: ['Matte Lipstick', 'Cushion Foundation', 'Waterproof Mascara', 'Eyeshadow Palette'],
    Fragrance: ['Osmanthus Eau de Parfum', 'Cedar Cologne', 'Jasmine Body Mist', 'Travel Perfume Set'],
  },
};

const slug = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** Deterministic demo figures from the product's position, so every run describes the same catalog. */
function demoProduct(name: string, category: string, index: number): DemoProduct {
  return {
    name,
    description: `${name} from our ${category} range. Demo data.`,
    priceAmount: 1_990 + ((index * 7_919) % 90_000),
    stock: 5 + ((index * 37) % 200),
  };
}

class Api {
  readonly #url: string;
  #token: string | undefined;
  constructor(url: string) {
    this.#url = url;
  }

  async call<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await fetch(this.#url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: T; errors?: { message: string; extensions?: unknown }[] };
    if (body.errors?.length || !body.data)
      throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors ?? response.status)}`);
    return body.data;
  }

  async login(email: string, password: string): Promise<string> {
    const { login } = await this.call<{ login: { accessToken: string; user: { id: string } } }>(
      'mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }',
      { email, password },
    );
    this.#token = login.accessToken;
    return login.user.id;
  }
}

async function ensureCategory(
  api: Api,
  name: string,
  parentId: string | null,
): Promise<{ id: string; created: boolean }> {
  const { category } = await api.call<{ category: { id: string } | null }>(
    'query($slug: String) { category(slug: $slug) { id } }',
    { slug: slug(name) },
  );
  if (category) return { id: category.id, created: false };
  const { createCategory } = await api.call<{ createCategory: { id: string } }>(
    'mutation($input: CreateCategoryInput!) { createCategory(input: $input) { id } }',
    { input: { name, slug: slug(name), parentId } },
  );
  return { id: createCategory.id, created: true };
}

interface ProductPage {
  readonly edges: { node: { name: string } }[];
  readonly pageInfo: { hasNextPage: boolean; endCursor: string };
}

/** Names of the products this merchant already sells, every page of them. */
async function existingNames(api: Api, merchantId: string): Promise<Set<string>> {
  const names = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const page: ProductPage = await api
      .call<{ products: ProductPage }>(
        'query($filter: ProductFilter, $after: String) { products(filter: $filter, sort: NAME, first: 100, after: $after) { edges { node { name } } pageInfo { hasNextPage endCursor } } }',
        { filter: { merchantId }, after },
      )
      .then((d) => d.products);
    for (const edge of page.edges) names.add(edge.node.name);
    if (!page.pageInfo.hasNextPage) return names;
    after = page.pageInfo.endCursor;
  }
}

export interface SeedResult {
  readonly categoriesCreated: number;
  readonly productsCreated: number;
  readonly products: number;
}

/** Seeds the demo catalog through the router at `url` as `admin`; what it had to create. */
export async function seedCatalog(url: string, admin: { email: string; password: string }): Promise<SeedResult> {
  const api = new Api(url);
  const adminId = await api.login(admin.email, admin.password);
  const have = await existingNames(api, adminId);
  let categoriesCreated = 0;
  let productsCreated = 0;
  let index = 0;
  for (const [rootName, children] of Object.entries(CATALOG)) {
    const root = await ensureCategory(api, rootName, null);
    categoriesCreated += Number(root.created);
    for (const [childName, productNames] of Object.entries(children)) {
      const child = await ensureCategory(api, childName, root.id);
      categoriesCreated += Number(child.created);
      for (const name of productNames) {
        const product = demoProduct(name, childName, index++);
        if (have.has(name)) continue;
        await api.call('mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }', {
          input: {
            ...product,
            categoryIds: [child.id],
            imageUrl: `https://picsum.photos/seed/${slug(name)}/600/600`,
          },
        });
        productsCreated++;
      }
    }
  }
  return { categoriesCreated, productsCreated, products: index };
}

if (import.meta.main) {
  const config = loadConfig(process.env, [userConfig]);
  const { admin } = configSection(config, userConfig);
  const password = await devSecret(config, 'admin-password', admin.password, () => {
    throw new Error('No admin password: set MALL_ADMIN_PASSWORD, or start the stack once (npm start) to generate it');
  });
  const url = process.env['SEED_URL'] ?? `http://127.0.0.1:${config.port}/graphql`;
  const result = await seedCatalog(url, { email: admin.email, password });
  process.stdout.write(
    `seeded ${url}: ${result.categoriesCreated} categories and ${result.productsCreated} of ${result.products} products created\n`,
  );
}
