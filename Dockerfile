# One image for every service; the command picks which one runs (see docker-compose.yaml).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/platform/package.json packages/platform/
COPY packages/events/package.json packages/events/
COPY packages/kafka-broker/package.json packages/kafka-broker/
COPY packages/stack/package.json packages/stack/
COPY router/package.json router/
# >>> npm run infra: subgraphs (from SUBGRAPHS in packages/stack/src/services.ts)
COPY subgraphs/user/package.json subgraphs/user/
COPY subgraphs/auth/package.json subgraphs/auth/
COPY subgraphs/product/package.json subgraphs/product/
COPY subgraphs/cart/package.json subgraphs/cart/
COPY subgraphs/order/package.json subgraphs/order/
COPY subgraphs/payment/package.json subgraphs/payment/
COPY subgraphs/flashsale/package.json subgraphs/flashsale/
COPY subgraphs/checkout/package.json subgraphs/checkout/
# <<< npm run infra: subgraphs
RUN npm ci --no-audit --no-fund

FROM deps AS app
COPY . .
RUN node scripts/prisma-generate.ts
ENV NODE_ENV=production
USER node
CMD ["node", "router/src/index.ts"]
