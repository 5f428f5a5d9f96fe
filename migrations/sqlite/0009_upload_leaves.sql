-- The digest of each finished 256 KiB leaf of a resumable upload's CID, written
-- once, by the request that finished it (in the transaction that records its
-- progress), instead of inside hash_state, which every request rewrites: what a
-- request writes no longer grows with the upload. One row per request: the
-- leaves from first_leaf on, 32 bytes each.
CREATE TABLE upload_leaves (
    upload_id  TEXT   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    first_leaf BIGINT NOT NULL,
    digests    BLOB   NOT NULL,
    PRIMARY KEY (upload_id, first_leaf)
);
