-- The audit chain is keyed (src/audit.rs documents the MAC): each new record names the key its
-- `hash` is an HMAC-SHA256 under. Rows written before this migration keep `key_id` NULL: they
-- are the legacy prefix, BLAKE3-chained, verified as such and sealed by the first keyed record.
ALTER TABLE ndf_audit ADD COLUMN key_id TEXT;
