-- Moderation (issue 17): a `moderate` event records a message taken down in a room
-- (XEP-0425 by a moderator, XEP-0424 by its own sender): who, when, why, which
-- message (its stanza-id) and the SHA-256 of the text it replaced. The original
-- stays in the archive as its `groupchat` event.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'join', 'leave', 'nick', 'groupchat', 'private', 'subject', 'config',
    'role', 'affiliation', 'kick', 'ban', 'invite', 'create', 'destroy',
    'history', 'mam', 'purge', 'chat', 'decline', 'iq', 'moderate'));

INSERT INTO schema_version (version, name) VALUES (8, 'moderation') ON CONFLICT (version) DO NOTHING;
