-- Audit log: append-only and hash-chained (src/audit.rs documents the hash). One row per event,
-- `seq` dense from 1 in chain order. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE ndf_audit (
    seq       INTEGER PRIMARY KEY NOT NULL,  -- the rowid: appends take the write lock first
    at        INTEGER NOT NULL,              -- never decreases with seq
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
-- Append-only for the application; the hash chain catches whoever drops these triggers.
CREATE TRIGGER ndf_audit_no_update BEFORE UPDATE ON ndf_audit
BEGIN
    SELECT RAISE(ABORT, 'ndf_audit is append-only');
END;
CREATE TRIGGER ndf_audit_no_delete BEFORE DELETE ON ndf_audit
BEGIN
    SELECT RAISE(ABORT, 'ndf_audit is append-only');
END;
