-- A file's own metadata: a JSON object its uploader gave (seed 3's
-- `metadata` column), shown as given. Its top-level scalar values are also
-- kept one per row, as JSON text, so a search for key = value is an indexed
-- lookup on both databases without JSON operators.
ALTER TABLE files ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

CREATE TABLE file_metadata (
    file_id BIGINT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    key     TEXT   NOT NULL,
    value   TEXT   NOT NULL,
    PRIMARY KEY (file_id, key)
);
CREATE INDEX file_metadata_lookup ON file_metadata (key, value);
