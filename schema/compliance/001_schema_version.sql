-- Migration bookkeeping for the compliance database (a database of its own,
-- never the chat database). Every later migration inserts its own number here
-- in the same transaction as its changes; confab-archiver refuses to run on a
-- schema newer than it knows.
CREATE TABLE IF NOT EXISTS schema_version (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_version (version, name) VALUES (1, 'schema_version')
ON CONFLICT (version) DO NOTHING;
