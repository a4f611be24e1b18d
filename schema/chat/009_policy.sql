-- The MUC service policy (issue 16 item 6; Cisco IM&P's persistent chat
-- settings): one row per key that confabctl policy set changed. A key without
-- a row takes its [muc] value (docs/configuration.md); confabd validates rows
-- with the same parser as confabctl (src/core/policy.c) and reloads them on
-- the control channel's policy-changed.
CREATE TABLE IF NOT EXISTS policy (
    key         text        PRIMARY KEY CHECK (key IN ('create_persistent', 'max_rooms',
                            'max_rooms_per_user', 'default_max_occupants', 'owners_may_change')),
    value       text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text                                   -- who ran confabctl policy set
);

INSERT INTO schema_version (version, name) VALUES (9, 'policy') ON CONFLICT (version) DO NOTHING;
