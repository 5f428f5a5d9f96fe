-- The audit chain becomes keyed: every event from here on is hashed with an
-- HMAC-SHA256 under the audit key (DEPOT_AUDIT_KEY, or one derived from
-- SECRET_KEY), which the database does not hold. Events already written keep
-- their unkeyed SHA-256 (key_version 0) and still verify; the head remembers
-- where the keyed part starts, and `depot audit verify` refuses an unkeyed
-- event after it.
ALTER TABLE audit_events ADD COLUMN key_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 1;
UPDATE audit_head SET keyed_from = last_id + 1 WHERE id = 1;
