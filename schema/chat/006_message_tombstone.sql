-- Moderation (issue 17): a retracted message's stanza becomes a tombstone in
-- place (history and MAM serve it so); when and why are kept beside it.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS retracted_at timestamptz;

INSERT INTO schema_version (version, name) VALUES (6, 'message_tombstone') ON CONFLICT (version) DO NOTHING;
