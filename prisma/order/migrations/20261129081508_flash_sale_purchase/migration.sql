-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "flash_sale_purchase_id" BIGINT;
