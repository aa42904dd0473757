-- Audit log: append-only and hash-chained (src/audit.rs documents the hash). One row per event,
-- `seq` dense from 1 in chain order. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE ndf_audit (
    seq       BIGINT PRIMARY KEY,            -- appends hold an advisory lock: no gaps, no forks
    at        BIGINT NOT NULL,               -- never decreases with seq
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant    TEXT,
    target    TEXT,
    outcome   TEXT NOT NULL,
    detail    TEXT NOT NULL,                 -- canonical JSON object; never secrets
    prev_hash TEXT NOT NULL,                 -- hash of seq - 1 (64 zeros for seq 1)
    hash      TEXT NOT NULL                  -- lower-case hex BLAKE3
);
-- Export by time range.
CREATE INDEX ndf_audit_at ON ndf_audit (at);
-- Append-only for the application role; the hash chain catches whoever disables this.
CREATE FUNCTION ndf_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ndf_audit is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ndf_audit_no_change BEFORE UPDATE OR DELETE ON ndf_audit
    FOR EACH ROW EXECUTE FUNCTION ndf_audit_append_only();
CREATE TRIGGER ndf_audit_no_truncate BEFORE TRUNCATE ON ndf_audit
    FOR EACH STATEMENT EXECUTE FUNCTION ndf_audit_append_only();
