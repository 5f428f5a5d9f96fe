-- Uploads in numbered parts (the S3 API's multipart uploads): each part's
-- bytes are content, stored and counted in blobs as a file's are, until the
-- upload completes (its parts streamed, in order, through the upload
-- workflow as one file) or is aborted or expires; then each part lets go of
-- its content.
CREATE TABLE multipart_uploads (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER    NOT NULL,
    file_name    TEXT    NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}',
    content_type TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER    NOT NULL,
    expires_at   INTEGER    NOT NULL
);
CREATE INDEX multipart_uploads_by_user ON multipart_uploads (user_id, file_name);
CREATE INDEX multipart_uploads_by_expiry ON multipart_uploads (expires_at);

CREATE TABLE multipart_parts (
    upload_id   TEXT    NOT NULL REFERENCES multipart_uploads (id),
    part_number INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    size        INTEGER    NOT NULL,
    created_at  INTEGER    NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
