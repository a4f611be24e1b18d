-- Every statement is idempotent: a migration is one pipeline segment (one
-- transaction), and db.c may re-run statements after a lost connection.
-- Whether a message was sent while its room's archive (XEP-0313) was on: the
-- archive serves only those, so switching archiving on does not expose what
-- was said while it was off. Join history and the compliance store keep all.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS archived boolean NOT NULL DEFAULT true;
-- Rows from before this column: a room that does not log now is taken never
-- to have logged (until now rooms started with logging off).
UPDATE messages m SET archived = false FROM rooms r
    WHERE r.id = m.room_id AND NOT r.logging AND m.archived;

INSERT INTO schema_version (version, name) VALUES (5, 'message_archived')
ON CONFLICT (version) DO NOTHING;
