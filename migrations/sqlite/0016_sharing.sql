-- Files shared with other users, for reading: one row per (file, recipient).
-- They go with their file, and with the recipient's account.
CREATE TABLE shares (
    file_id    INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (file_id, user_id)
);
CREATE INDEX shares_by_user ON shares (user_id);

-- Links that open one file to anyone holding them (`download`), or let
-- anyone holding them upload into their owner's space (`upload`). The id is
-- random; the URL's token is the id and an HMAC of it under a key derived
-- from the signing secret, so that nothing here opens a link. `listed` is 0
-- for the short links the web UI makes for its own downloads. Counters are
-- moved in the database, so a limit holds across nodes.
CREATE TABLE links (
    id            TEXT    PRIMARY KEY,
    owner_id      INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    file_id       INTEGER REFERENCES files (id) ON DELETE CASCADE,
    listed        INTEGER NOT NULL,
    password_hash TEXT,
    expires_at    INTEGER,
    max_downloads INTEGER,
    downloads     INTEGER NOT NULL DEFAULT 0,
    max_files     INTEGER,
    files         INTEGER NOT NULL DEFAULT 0,
    max_bytes     INTEGER,
    created_at    INTEGER NOT NULL
);
CREATE INDEX links_by_owner ON links (owner_id, created_at);
CREATE INDEX links_by_file ON links (file_id);

-- The upload link a resumable upload was created through: only that link's
-- holders reach it, and its file goes back to the link if it is removed.
ALTER TABLE uploads ADD COLUMN link_id TEXT;

-- What an event's actor acted through or on besides the file: "via link
-- 1a2b…", "with bob", "shared by ann". Hashed into the chain only when not
-- empty, after the reason, so the events written before still verify.
ALTER TABLE audit_events ADD COLUMN detail TEXT NOT NULL DEFAULT '';
