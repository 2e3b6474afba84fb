-- CreateTable
CREATE TABLE "denied_access_tokens" (
    "jti" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "synced_at" TIMESTAMPTZ(3),

    CONSTRAINT "denied_access_tokens_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "user_revocations" (
    "user_id" TEXT NOT NULL,
    "revoked_at" TIMESTAMPTZ(0) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "synced_at" TIMESTAMPTZ(3),

    CONSTRAINT "user_revocations_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "login_failure_counters" (
    "key" TEXT NOT NULL,
    "failures" INTEGER NOT NULL,
    "window_ends_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "login_failure_counters_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "denied_access_tokens_expires_at_idx" ON "denied_access_tokens"("expires_at");

-- CreateIndex
CREATE INDEX "denied_access_tokens_synced_at_idx" ON "denied_access_tokens"("synced_at");

-- CreateIndex
CREATE INDEX "user_revocations_expires_at_idx" ON "user_revocations"("expires_at");

-- CreateIndex
CREATE INDEX "user_revocations_synced_at_idx" ON "user_revocations"("synced_at");

-- CreateIndex
CREATE INDEX "login_failure_counters_window_ends_at_idx" ON "login_failure_counters"("window_ends_at");
