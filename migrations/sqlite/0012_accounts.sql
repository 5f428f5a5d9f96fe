-- Accounts a team can govern. A user's role replaces is_admin: `admin`,
-- `user`, or `reader` (reads only, whatever its credentials say). A disabled
-- account's tokens and keys stop working. Every token depot issues carries
-- the account's token_generation; signing out, a password change, disabling
-- the account or changing its role bump it, and older tokens are refused.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
UPDATE users SET role = 'admin' WHERE is_admin = 1;
ALTER TABLE users DROP COLUMN is_admin;
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;

-- API keys: long-lived bearer credentials a user makes for scripts. Only the
-- SHA-256 of the secret is kept (the secret is 256 random bits, so a fast
-- hash is enough). No foreign key to users: with an external auth service a
-- user may have no row here.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, id);

-- Invites an admin hands out when sign-up is `invite`: one account each,
-- with the role the invite names, before it expires. Only the code's
-- SHA-256 is kept.
CREATE TABLE invites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    code_sha256 TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    created_by  INTEGER,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_by     INTEGER,
    used_at     INTEGER
);
