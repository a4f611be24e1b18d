-- Every statement is idempotent: a migration is one pipeline segment (one
-- transaction), and db.c may re-run statements after a lost connection.
-- confabd's compliance outbox: each event for confab-archiver is written here
-- in the same transaction as the change it records, and deleted only once the
-- archiver has answered `result` (after its own commit). See docs/compliance.md.
CREATE TABLE IF NOT EXISTS compliance_outbox (
    id       bigserial   PRIMARY KEY,        -- send order (one writer: commit order)
    uuid     uuid        NOT NULL UNIQUE,    -- the event's id; retries reuse it
    room     text,                           -- room JID (NULL for none)
    created  timestamptz NOT NULL DEFAULT now(),
    xml      text        NOT NULL            -- the <event/> element, serialised
);

INSERT INTO schema_version (version, name) VALUES (3, 'compliance_outbox')
ON CONFLICT (version) DO NOTHING;
