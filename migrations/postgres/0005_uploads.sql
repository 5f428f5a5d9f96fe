-- Resumable (tus) uploads in progress. The row is the upload's whole state, so
-- any node can continue it: how far the durable bytes go (upload_offset), the
-- hash state of those bytes (SHA-256 and CID builder, so completing never
-- re-reads them), and who is writing to it now. A PATCH holds the lock
-- (lock_token) until locked_until, renewing it while its body streams; a lock
-- whose holder died runs out. The bytes live in the blob store under the id,
-- with what the store needs to resume them in store_state (S3's multipart
-- upload and parts; nothing on local disk).
CREATE TABLE uploads (
    id            TEXT   PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    session_id    TEXT   NOT NULL,
    record_id     TEXT   NOT NULL REFERENCES processing_records (id),
    file_name     TEXT   NOT NULL,
    filename      TEXT   NOT NULL,
    description   TEXT   NOT NULL,
    -- Upload-Metadata as the client sent it, echoed on HEAD.
    metadata      TEXT   NOT NULL,
    length        BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL DEFAULT 0,
    store_state   TEXT   NOT NULL DEFAULT '',
    hash_state    BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    lock_token    TEXT,
    locked_until  BIGINT
);

CREATE INDEX uploads_by_expiry ON uploads (expires_at);
