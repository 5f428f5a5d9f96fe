-- The IPFS CID of the content (CIDv1, kubo's defaults), computed in the upload
-- pass; empty for files stored before it was.
ALTER TABLE files ADD COLUMN cid TEXT NOT NULL DEFAULT '';
CREATE INDEX files_cid ON files (cid);
