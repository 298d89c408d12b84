-- AlterTable
ALTER TABLE "Booking" ADD COLUMN     "contractKey" TEXT,
ADD COLUMN     "signatureKey" TEXT;

-- CreateIndex
CREATE INDEX "Booking_status_idx" ON "Booking"("status");
