-- Categories, groups and ethical walls (issue 16; Lync 2013 Persistent Chat's
-- object model, ../shared/reference/seed-systems.md §B.2). Every room belongs to
-- exactly one category; `default` (id 1, everyone allowed) holds existing and
-- unspecified rooms. A category cannot be removed while it holds rooms (the
-- foreign key below is ON DELETE RESTRICT).
CREATE TABLE IF NOT EXISTS categories (
    id                    bigserial   PRIMARY KEY,
    name                  text        NOT NULL UNIQUE,
    description           text        NOT NULL DEFAULT '',
    invitations           boolean     NOT NULL DEFAULT true,   -- invitations allowed in its rooms
    history               boolean     NOT NULL DEFAULT true,   -- chat history kept
    file_posting          boolean     NOT NULL DEFAULT false,  -- for later (file transfer)
    default_privacy       text        NOT NULL DEFAULT 'open'
                          CHECK (default_privacy IN ('open', 'closed', 'secret')),
    default_type          text        NOT NULL DEFAULT 'normal'
                          CHECK (default_type IN ('normal', 'auditorium')),
    default_max_occupants integer     NOT NULL DEFAULT 0 CHECK (default_max_occupants >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
INSERT INTO categories (id, name, description)
    VALUES (1, 'default', 'Rooms not placed in another category')
    ON CONFLICT DO NOTHING;
SELECT setval(pg_get_serial_sequence('categories', 'id'),
              GREATEST((SELECT max(id) FROM categories), 1));

-- Groups of users, kept by confabctl or synchronised from LDAP (source 'ldap':
-- `confabctl groups sync` replaces the members with the filter's result).
CREATE TABLE IF NOT EXISTS groups (
    id                    bigserial   PRIMARY KEY,
    name                  text        NOT NULL UNIQUE,
    description           text        NOT NULL DEFAULT '',
    source                text        NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    ldap_filter           text,
    synced_at             timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS group_members (
    group_id              bigint      NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    jid                   text        NOT NULL,                -- bare JID, prepared
    PRIMARY KEY (group_id, jid)
);
CREATE INDEX IF NOT EXISTS group_members_jid ON group_members (jid);

-- A category's principals: who is allowed in, who is denied (deny wins over
-- allow), who may create rooms in it. A principal is a bare JID, a whole
-- domain, a group, or everyone.
CREATE TABLE IF NOT EXISTS category_principals (
    category_id           bigint      NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    list                  text        NOT NULL CHECK (list IN ('allowed', 'denied', 'creator')),
    kind                  text        NOT NULL CHECK (kind IN ('jid', 'domain', 'group', 'everyone')),
    principal             text        NOT NULL DEFAULT '',     -- '' for everyone
    PRIMARY KEY (category_id, list, kind, principal)
);
INSERT INTO category_principals (category_id, list, kind, principal)
    VALUES (1, 'allowed', 'everyone', '') ON CONFLICT DO NOTHING;

ALTER TABLE rooms ADD COLUMN IF NOT EXISTS category_id bigint NOT NULL DEFAULT 1
    REFERENCES categories (id) ON DELETE RESTRICT;
CREATE INDEX IF NOT EXISTS rooms_category ON rooms (category_id);

INSERT INTO schema_version (version, name) VALUES (8, 'categories') ON CONFLICT (version) DO NOTHING;
