-- /metrics counts the files flagged corrupt at every scrape: an index of
-- those alone keeps that count from reading every file's row.
CREATE INDEX files_corrupt ON files (corrupt_at) WHERE corrupt_at IS NOT NULL;
