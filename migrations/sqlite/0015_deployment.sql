-- A name for the deployment, random, made once: what its nodes share and
-- other deployments do not, such as the prefix of its keys in a Redis that
-- several deployments use.
CREATE TABLE deployment (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT    NOT NULL
);
INSERT INTO deployment (id, name) VALUES (1, lower(hex(randomblob(8))));
