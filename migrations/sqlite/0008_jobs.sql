-- Operations. The first account registered is an admin, as is any account
-- `depot user add --admin` creates; admins run and read maintenance jobs.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
-- On a deployment that has accounts already, the first of them is the admin.
UPDATE users SET is_admin = 1 WHERE id = (SELECT MIN(id) FROM users);

-- One row per run of a maintenance job (cleanup, verify, report): who ran it
-- (the schedule, the API or the CLI), on which node, when, how it ended, and
-- its report as JSON. `outcome` is running, succeeded or failed.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT    NOT NULL,
    trigger     TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT    NOT NULL,
    report      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX job_runs_by_job ON job_runs (job, id);

-- At most one node runs a job at a time: it holds the job's lease, renewing
-- it while it works; a lease past expires_at may be taken over.
CREATE TABLE job_leases (
    job        TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Stored blobs that no blob row names, with when cleanup first saw each: one
-- is removed only when a later run, a grace period on, still finds it so
-- (an upload commits its bytes just before its row).
CREATE TABLE orphan_blobs (
    sha256        TEXT    PRIMARY KEY,
    first_seen_at INTEGER NOT NULL
);
