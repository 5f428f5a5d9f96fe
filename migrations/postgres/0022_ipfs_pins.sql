-- Publishing to an IPFS node (DEPOT_IPFS_API): one row per stored content
-- that is to be pinned there (want = 'pin') or unpinned (want = 'unpin'),
-- and how far that got: pending, pinned, or failed with the last error and
-- the time of the next try. `version` grows with each change of want, so a
-- publisher that finishes late cannot overwrite a newer wish.
CREATE TABLE ipfs_pins (
    sha256      TEXT   PRIMARY KEY,
    cid         TEXT   NOT NULL,
    want        TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_try_at BIGINT NOT NULL,
    error       TEXT,
    changed_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX ipfs_pins_due ON ipfs_pins (next_try_at) WHERE state <> 'pinned';
