-- Sessions (one per browser or client), each with at most one active file, and the
-- processing history of every upload attempt. Records outlive their sessions.
-- No foreign key to users: with an external auth service (seed 2) users live there.

CREATE TABLE sessions (
    id             TEXT   PRIMARY KEY,
    user_id        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    active_file_id BIGINT REFERENCES files (id) ON DELETE SET NULL,
    -- Bumped on every change of the active file; the cache keeps the newest version.
    active_version BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_active_file ON sessions (active_file_id);

CREATE TABLE processing_records (
    id            TEXT   PRIMARY KEY,
    session_id    TEXT   NOT NULL,
    user_id       BIGINT NOT NULL,
    filename      TEXT   NOT NULL,
    file_name     TEXT   NOT NULL DEFAULT '',
    size          BIGINT NOT NULL DEFAULT 0,
    content_type  TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL,
    error_code    TEXT   NOT NULL DEFAULT '',
    error_message TEXT   NOT NULL DEFAULT '',
    started_at    BIGINT NOT NULL,
    completed_at  BIGINT,
    file_id       BIGINT REFERENCES files (id) ON DELETE SET NULL
);

-- History pages read newest first and count their matches from these alone. The
-- user stays in the session index: a swept session id may be registered again by
-- someone else, and its old records must stay with their owner.
CREATE INDEX processing_by_session ON processing_records (session_id, user_id, started_at, id, status);
CREATE INDEX processing_by_user ON processing_records (user_id, started_at, id, status);
CREATE INDEX processing_by_file ON processing_records (file_id);

-- How many records each session has in each status, kept in step with the records
-- in the same transactions, so a history page's total is a sum of a few rows.
CREATE TABLE processing_counts (
    session_id TEXT   NOT NULL,
    user_id    BIGINT NOT NULL,
    status     TEXT   NOT NULL,
    records    BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id, status)
);

CREATE INDEX processing_counts_by_user ON processing_counts (user_id);
