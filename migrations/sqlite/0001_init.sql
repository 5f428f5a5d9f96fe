-- depot's first schema. Timestamps are microseconds since the Unix epoch.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- One row per distinct content; refcount = number of files pointing at it.
CREATE TABLE blobs (
    sha256     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    refcount   INTEGER NOT NULL CHECK (refcount >= 0),
    created_at INTEGER NOT NULL
);

CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL,
    file_name    TEXT    NOT NULL,
    storage_uri  TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    summary      TEXT    NOT NULL DEFAULT '',
    size         INTEGER NOT NULL,
    content_type TEXT    NOT NULL,
    sha256       TEXT    NOT NULL REFERENCES blobs (sha256) DEFERRABLE INITIALLY DEFERRED,
    created_at   INTEGER NOT NULL,
    UNIQUE (user_id, file_name)
);

CREATE INDEX files_by_user ON files (user_id, id);
CREATE INDEX files_by_blob ON files (sha256);
