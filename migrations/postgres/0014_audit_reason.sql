-- Why a request was refused or failed: the stable error code of its answer
-- (`quota_exceeded`, `rate_limited`, …); empty for what succeeded. Hashed
-- into the chain only when not empty, so the events written before still
-- verify.
ALTER TABLE audit_events ADD COLUMN reason TEXT NOT NULL DEFAULT '';
