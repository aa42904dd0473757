-- Idempotency keys are unique per tenant, not globally: another tenant reusing a key must
-- neither see nor block this tenant's job (NULL keys stay distinct).
DROP INDEX ndf_jobs_idempotency_key;
CREATE UNIQUE INDEX ndf_jobs_tenant_idempotency_key ON ndf_jobs (tenant, idempotency_key);

-- One-time and periodic maintenance: when each task last ran. `secure_vacuum` is the one-time
-- VACUUM that rewrites a database created before secure_delete was on, so that rows deleted
-- back then leave the free pages too (run on open while last_at is 0).
CREATE TABLE ndf_maintenance (
    task    TEXT PRIMARY KEY NOT NULL,
    last_at INTEGER NOT NULL
);
INSERT INTO ndf_maintenance (task, last_at) VALUES ('secure_vacuum', 0);
