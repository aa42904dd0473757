-- Tenancy, API keys, shared rate-limit counters and per-job data keys (encryption at rest).
-- Every job belongs to a tenant; rows from before this migration belong to `default`.
ALTER TABLE ndf_jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
-- The job's data key wrapped under a master key; deleting the row shreds the job's data.
ALTER TABLE ndf_jobs ADD COLUMN data_key BLOB;
CREATE INDEX ndf_jobs_tenant_id ON ndf_jobs (tenant, id);
CREATE INDEX ndf_jobs_tenant_state_id ON ndf_jobs (tenant, state, id);

-- API keys: only a keyed hash of each key is stored.
CREATE TABLE ndf_api_keys (
    id          TEXT PRIMARY KEY NOT NULL,   -- 12 hex digits, also inside the key itself
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,               -- hex HMAC-SHA256(api_key_secret, key)
    scopes      TEXT NOT NULL,               -- space-separated
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX ndf_api_keys_tenant ON ndf_api_keys (tenant, id);

-- Fixed-window request counters shared by every replica.
CREATE TABLE ndf_rate_counters (
    bucket      TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX ndf_rate_counters_expires_at ON ndf_rate_counters (expires_at);
