-- Jobs: one row per extraction job. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE ndf_jobs (
    id                      TEXT PRIMARY KEY NOT NULL,  -- UUIDv7, lower-case hyphenated: sorts by time
    state                   TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    options                 TEXT NOT NULL,               -- JSON, may hold a document password
    callback_url            TEXT,
    idempotency_key         TEXT,
    body_sha256             TEXT NOT NULL,
    input_bytes             INTEGER NOT NULL CHECK (input_bytes >= 0),
    attempts                INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts            INTEGER NOT NULL CHECK (max_attempts >= 1),
    pages_done              INTEGER NOT NULL DEFAULT 0,
    pages_total             INTEGER,
    result_bytes            INTEGER,
    error_code              TEXT,
    error_message           TEXT,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    started_at              INTEGER,
    finished_at             INTEGER,
    expires_at              INTEGER NOT NULL,
    lease_owner             TEXT,
    lease_expires_at        INTEGER,
    lease_token             TEXT,                        -- fencing token of the current (or cancelled) lease
    traceparent             TEXT,
    webhook_attempts        INTEGER NOT NULL DEFAULT 0,
    webhook_next_attempt_at INTEGER,                     -- due time, or end of a replica's claim
    webhook_delivered_at    INTEGER,
    webhook_last_error      TEXT,
    webhook_owner           TEXT                         -- replica that claimed it last (diagnostics)
);
-- One job per idempotency key (NULLs are distinct).
CREATE UNIQUE INDEX ndf_jobs_idempotency_key ON ndf_jobs (idempotency_key);
-- Lease candidates in queue order; partial so finished jobs never slow the claim down.
CREATE INDEX ndf_jobs_queue ON ndf_jobs (created_at, id) WHERE state IN ('queued', 'running');
-- list(state, before) and counts().
CREATE INDEX ndf_jobs_state_id ON ndf_jobs (state, id);
-- Retention sweep.
CREATE INDEX ndf_jobs_expires_at ON ndf_jobs (expires_at, id);
-- Pending webhooks only.
CREATE INDEX ndf_jobs_webhook_due ON ndf_jobs (webhook_next_attempt_at, id) WHERE webhook_next_attempt_at IS NOT NULL;
