-- Content addressing. Each file's IPFS CID (CIDv1, kubo's defaults), computed
-- in the upload pass; empty for files stored before it was.
ALTER TABLE files ADD COLUMN cid TEXT NOT NULL DEFAULT '';
CREATE INDEX files_cid ON files (cid);
-- When a download found the stored bytes no longer matching their CID.
ALTER TABLE files ADD COLUMN corrupt_at BIGINT;

-- The DAG behind each blob's CID, kept so any block can be served and any chunk
-- verified: the inner dag-pb nodes with their bytes, and the raw leaves (chunk
-- i is bytes i * 262144 .. of the blob). Identical subtrees of two blobs are
-- two rows. They go with the blob row.
CREATE TABLE dag_nodes (
    blob_sha256 TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    cid         TEXT NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (blob_sha256, cid)
);
CREATE INDEX dag_nodes_cid ON dag_nodes (cid);

CREATE TABLE dag_leaves (
    blob_sha256 TEXT   NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    chunk       BIGINT NOT NULL,
    cid         TEXT   NOT NULL,
    PRIMARY KEY (blob_sha256, chunk)
);
CREATE INDEX dag_leaves_cid ON dag_leaves (cid);
