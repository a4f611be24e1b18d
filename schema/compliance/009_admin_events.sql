-- Administration events (issue 16): changes to categories, groups, walls and
-- service policy, each recorded like any room event (who, when, what).
-- `wall` records an occupant removed or an affiliation revoked because a
-- category's lists changed.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'join', 'leave', 'nick', 'groupchat', 'private', 'subject', 'config',
    'role', 'affiliation', 'kick', 'ban', 'invite', 'create', 'destroy',
    'history', 'mam', 'purge', 'chat', 'decline', 'iq', 'moderate',
    'category', 'group', 'policy', 'wall'));

INSERT INTO schema_version (version, name) VALUES (9, 'admin_events') ON CONFLICT (version) DO NOTHING;
