-- AlterTable
ALTER TABLE "users" DROP COLUMN "version";
