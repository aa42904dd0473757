-- Idempotency keys are unique per tenant, not globally: another tenant reusing a key must
-- neither see nor block this tenant's job (NULL keys stay distinct).
ALTER TABLE ndf_jobs DROP CONSTRAINT IF EXISTS ndf_jobs_idempotency_key_key;
CREATE UNIQUE INDEX ndf_jobs_tenant_idempotency_key ON ndf_jobs (tenant, idempotency_key);

-- ANALYZE must not copy secrets into pg_statistic (histogram samples outlive the rows they
-- came from): no statistics for the data key, the options, the callback URL (it may hold a
-- token) and the idempotency key.
ALTER TABLE ndf_jobs
    ALTER COLUMN data_key SET STATISTICS 0,
    ALTER COLUMN options SET STATISTICS 0,
    ALTER COLUMN callback_url SET STATISTICS 0,
    ALTER COLUMN idempotency_key SET STATISTICS 0;

-- Periodic maintenance shared by the replicas: when each task last ran (one row per task), so
-- that one replica runs it once per interval.
CREATE TABLE ndf_maintenance (
    task    TEXT PRIMARY KEY NOT NULL,
    last_at BIGINT NOT NULL
);
INSERT INTO ndf_maintenance (task, last_at) VALUES ('rewrite_jobs', 0);
