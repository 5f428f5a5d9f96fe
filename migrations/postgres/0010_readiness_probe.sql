-- One row that `/readyz` updates (rate-limited) to prove the database takes
-- a committed write, not only a read: an fsync error or a full disk shows.
CREATE TABLE readiness_probe (
    id        INTEGER PRIMARY KEY,
    probed_at BIGINT  NOT NULL
);
INSERT INTO readiness_probe (id, probed_at) VALUES (1, 0);
