-- A backup in progress: while a hold is live, no stored content's bytes are
-- removed (a deletion schedules the removal instead), so every file in the
-- backup's snapshot of the metadata still finds its bytes when they are copied.
CREATE TABLE backup_holds (
    id         TEXT   PRIMARY KEY,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
