-- Every statement is idempotent: a migration is one pipeline segment (one
-- transaction), and db.c may re-run statements after a lost connection.
-- Rooms, their configuration (typed columns), affiliations and every message.
CREATE TABLE IF NOT EXISTS rooms (
    id                  bigserial   PRIMARY KEY,
    jid                 text        NOT NULL UNIQUE,      -- room@service, prepared
    creator             text        NOT NULL,             -- bare JID
    created_at          timestamptz NOT NULL DEFAULT now(),
    locked              boolean     NOT NULL DEFAULT true,
    name                text        NOT NULL DEFAULT '',
    description         text        NOT NULL DEFAULT '',
    lang                text        NOT NULL DEFAULT '',
    password            text        NOT NULL DEFAULT '',
    persistent          boolean     NOT NULL DEFAULT false,
    public_list         boolean     NOT NULL DEFAULT true,
    members_only        boolean     NOT NULL DEFAULT false,
    moderated           boolean     NOT NULL DEFAULT false,
    password_protected  boolean     NOT NULL DEFAULT false,
    whois_anyone        boolean     NOT NULL DEFAULT false,
    change_subject      boolean     NOT NULL DEFAULT false,
    allow_invites       boolean     NOT NULL DEFAULT false,
    logging             boolean     NOT NULL DEFAULT false,
    allow_pm            text        NOT NULL DEFAULT 'anyone'
                        CHECK (allow_pm IN ('anyone', 'participants', 'moderators', 'none')),
    max_users           integer     NOT NULL DEFAULT 0 CHECK (max_users >= 0),
    presence_broadcast  text[]      NOT NULL DEFAULT '{moderator,participant,visitor}',
    get_member_list     text[]      NOT NULL DEFAULT '{moderator,participant}',
    history_length      integer     NOT NULL DEFAULT 20 CHECK (history_length >= 0),
    max_history_age     interval,                         -- per-room retention; NULL = service default
    subject             text,
    subject_from        text,
    subject_at          timestamptz,
    last_seq            bigint      NOT NULL DEFAULT 0,   -- highest message seq assigned
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Destroyed rooms keep their name reserved until the tombstone expires.
CREATE TABLE IF NOT EXISTS tombstones (
    jid                 text        PRIMARY KEY,
    venue               text,
    reason              text,
    destroyed_at        timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz
);

CREATE TABLE IF NOT EXISTS affiliations (
    room_id             bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    jid                 text        NOT NULL,             -- bare JID or domain
    affiliation         text        NOT NULL
                        CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast', 'none')),
    nick                text,                             -- registered (reserved) nick
    reason              text,
    actor               text,                             -- bare JID of who set it
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, jid)
);
CREATE UNIQUE INDEX IF NOT EXISTS affiliations_nick ON affiliations (room_id, nick) WHERE nick IS NOT NULL;

-- Every groupchat message. seq is per room and monotonic: it is the XEP-0359
-- stanza-id and the XEP-0313 result id, so paging is keyset-based.
CREATE TABLE IF NOT EXISTS messages (
    room_id             bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq                 bigint      NOT NULL,
    ts                  timestamptz NOT NULL,
    sender_jid          text        NOT NULL,             -- real full JID, whatever the room's anonymity
    nick                text        NOT NULL,
    occupant_id         text        NOT NULL,
    body                text,
    body_tsv            tsvector,                         -- filled by confabd with [storage] fts_language
    stanza              text        NOT NULL,             -- as delivered, without 'to'
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX IF NOT EXISTS messages_room_ts ON messages (room_id, ts);
CREATE INDEX IF NOT EXISTS messages_fts ON messages USING gin (body_tsv);

INSERT INTO schema_version (version, name) VALUES (2, 'rooms') ON CONFLICT (version) DO NOTHING;
