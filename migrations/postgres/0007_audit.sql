-- The audit trail: one event per file operation, login, and denied attempt.
-- Events are chained: each keeps the SHA-256 of the one before (prev_hash)
-- and of its own content with that link (hash), so `depot audit verify`
-- finds an edited, removed or reordered event. The table takes inserts only.
CREATE TABLE audit_events (
    id          BIGINT  PRIMARY KEY,
    at          BIGINT  NOT NULL,
    -- The user acting; NULL when the request proved none (no or a bad token).
    actor       BIGINT,
    session_id  TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    -- The file acted on (for login and register: the username).
    file_name   TEXT    NOT NULL DEFAULT '',
    content_key TEXT    NOT NULL DEFAULT '',
    bytes       BIGINT  NOT NULL DEFAULT 0,
    -- The HTTP status the operation answered.
    outcome     INTEGER NOT NULL,
    client_ip   TEXT    NOT NULL DEFAULT '',
    request_id  TEXT    NOT NULL DEFAULT '',
    server_role TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);

CREATE INDEX audit_by_actor ON audit_events (actor, id);
CREATE INDEX audit_by_time ON audit_events (at, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- The chain's head: the last event's id and hash, one row, locked by every
-- append so that events take their place one at a time.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_id   BIGINT  NOT NULL,
    last_hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
