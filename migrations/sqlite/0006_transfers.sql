-- Two-tier mode. A blob whose last file was deleted while its store could not
-- remove the bytes (a storage node down) keeps its row, with no references,
-- until a retry removes them: cleanup_scheduled_for says when the next try is
-- due. An upload of the same content meanwhile takes the row back.
ALTER TABLE blobs ADD COLUMN cleanup_scheduled_for BIGINT;
ALTER TABLE blobs ADD COLUMN cleanup_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX blobs_cleanup ON blobs (cleanup_scheduled_for);

-- Seed 4's file tracking: one row per transfer of a file's bytes (an upload
-- in, a download out) with the role of the server that streamed them, when
-- the stream began and completed (NULL while it runs, or if it was cut), how
-- many bytes went through, and when the removal of the file's stored bytes
-- was scheduled once the file was deleted.
CREATE TABLE transfers (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id               INTEGER REFERENCES files (id) ON DELETE SET NULL,
    user_id               INTEGER NOT NULL,
    file_name             TEXT    NOT NULL,
    sha256                TEXT    NOT NULL,
    direction             TEXT    NOT NULL,
    server_role           TEXT    NOT NULL,
    stream_start          BIGINT  NOT NULL,
    stream_complete       BIGINT,
    bytes_transferred     BIGINT  NOT NULL DEFAULT 0,
    cleanup_scheduled_for BIGINT
);

CREATE INDEX transfers_by_file ON transfers (file_id);
CREATE INDEX transfers_by_user ON transfers (user_id, id);
