-- Two event types for what a room relays besides messages (issue 13): a
-- `decline` answers a mediated invitation (XEP-0045 §7.8.2), an `iq` is one
-- relayed between occupants (the router's tap never sees either).
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'join', 'leave', 'nick', 'groupchat', 'private', 'subject', 'config',
    'role', 'affiliation', 'kick', 'ban', 'invite', 'create', 'destroy',
    'history', 'mam', 'purge', 'chat', 'decline', 'iq'));

INSERT INTO schema_version (version, name) VALUES (7, 'relay_events') ON CONFLICT (version) DO NOTHING;
