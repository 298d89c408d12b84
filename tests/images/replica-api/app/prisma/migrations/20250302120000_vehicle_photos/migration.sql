-- AlterTable
ALTER TABLE "Vehicle" ADD COLUMN     "photoKey" TEXT;
