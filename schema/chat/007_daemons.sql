-- The control channel (issue 17): every running confabd publishes what it is
-- doing here (confabctl status reads it); confabctl's changes reach them with
-- NOTIFY confab_control, which needs no table.
CREATE TABLE IF NOT EXISTS daemons (
    id          text        PRIMARY KEY,           -- host/pid/start: one row per process
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    version     text        NOT NULL,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL,              -- refreshed every few seconds while running
    stopped_at  timestamptz,                       -- set by a clean stop
    status      jsonb       NOT NULL               -- rooms, occupants, link, queues
);
-- Rows of processes long gone are removed by confabctl status.

INSERT INTO schema_version (version, name) VALUES (7, 'daemons') ON CONFLICT (version) DO NOTHING;
