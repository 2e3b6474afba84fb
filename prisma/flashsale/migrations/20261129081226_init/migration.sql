-- CreateEnum
CREATE TYPE "purchase_status" AS ENUM ('PENDING', 'CONFIRMED', 'REJECTED', 'RELEASED');

-- CreateTable
CREATE TABLE "outbox" (
    "id" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "headers" JSONB,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "available_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "published_at" TIMESTAMPTZ(6),

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "processed_events" (
    "consumer" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "processed_events_pkey" PRIMARY KEY ("consumer","event_id")
);

-- CreateTable
CREATE TABLE "flash_sales" (
    "id" BIGINT NOT NULL,
    "product_id" BIGINT NOT NULL,
    "product_name" TEXT NOT NULL,
    "created_by" BIGINT NOT NULL,
    "price_amount" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "sold" INTEGER NOT NULL DEFAULT 0,
    "per_user_limit" INTEGER NOT NULL,
    "starts_at" TIMESTAMPTZ(3) NOT NULL,
    "ends_at" TIMESTAMPTZ(3) NOT NULL,
    "settled_at" TIMESTAMPTZ(3),
    "stock_settled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flash_sales_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "flash_sale_purchases" (
    "id" BIGINT NOT NULL,
    "flash_sale_id" BIGINT NOT NULL,
    "user_id" BIGINT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "status" "purchase_status" NOT NULL DEFAULT 'PENDING',
    "reason" TEXT,
    "order_id" BIGINT,
    "idempotency_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "flash_sale_purchases_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "outbox_published_at_available_at_idx" ON "outbox"("published_at", "available_at");

-- CreateIndex
CREATE INDEX "outbox_topic_key_published_at_created_at_idx" ON "outbox"("topic", "key", "published_at", "created_at");

-- CreateIndex
CREATE INDEX "flash_sales_ends_at_id_idx" ON "flash_sales"("ends_at", "id");

-- CreateIndex
CREATE INDEX "flash_sales_stock_settled_at_ends_at_idx" ON "flash_sales"("stock_settled_at", "ends_at");

-- CreateIndex
CREATE INDEX "flash_sale_purchases_flash_sale_id_user_id_idx" ON "flash_sale_purchases"("flash_sale_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "flash_sale_purchases_flash_sale_id_user_id_idempotency_key_key" ON "flash_sale_purchases"("flash_sale_id", "user_id", "idempotency_key");

-- AddForeignKey
ALTER TABLE "flash_sale_purchases" ADD CONSTRAINT "flash_sale_purchases_flash_sale_id_fkey" FOREIGN KEY ("flash_sale_id") REFERENCES "flash_sales"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
