-- Storage quotas. A user's override of the deployment's `quota_bytes` and
-- `quota_files` (NULL: the deployment's; 0: unlimited), set by admins.
ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
ALTER TABLE users ADD COLUMN quota_files INTEGER;

-- What each user's files take, each file counted in full (deduplicated
-- content too), kept in the transactions that add and delete files. Keyed by
-- user id alone: with an external auth service a user may have no account row.
CREATE TABLE user_usage (
    user_id INTEGER PRIMARY KEY,
    bytes   INTEGER NOT NULL,
    files   INTEGER NOT NULL
);
INSERT INTO user_usage (user_id, bytes, files)
    SELECT user_id, SUM(size), COUNT(*) FROM files GROUP BY user_id;

-- Room held for uploads under way, so that concurrent uploads on any node
-- cannot together pass a quota. A one-request upload's row goes with its
-- request; a resumable upload's (its id is the upload's) lives as long as
-- the upload. A row past `expires_at` holds nothing.
CREATE TABLE quota_reservations (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX quota_reservations_by_user ON quota_reservations (user_id);
