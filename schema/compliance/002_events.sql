-- The compliance record: one row per event, partitioned by month, each row
-- carrying a SHA-256 hash chained to the row before it (docs/compliance.md).
-- Every statement is idempotent: a migration is one pipeline segment (one
-- transaction), and db.c may run statements again after a lost connection.
-- Statements end with ';' at the end of a line; a ';' at the end of a line
-- inside a dollar-quoted body does not end the statement (migrate.c).

DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'the compliance database must be UTF8 (it is %)',
            current_setting('server_encoding');
    END IF;
END
$$;

-- Idempotency: every event UUID ever accepted, whatever its partition (a
-- unique index on the partitioned table would have to include the month).
CREATE TABLE IF NOT EXISTS event_ids (
    uuid                uuid        PRIMARY KEY,
    received_at         timestamptz NOT NULL DEFAULT now()
);

-- The end of the hash chain: the last row's seq and hash. Each insert moves
-- it in the same statement (a row lock: concurrent writers queue here, so the
-- chain order is the commit order, whatever the number of archivers).
CREATE TABLE IF NOT EXISTS chain_head (
    id                  integer     PRIMARY KEY CHECK (id = 1),
    seq                 bigint      NOT NULL,
    hash                bytea       NOT NULL CHECK (octet_length(hash) = 32)
);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'))
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS events (
    seq                 bigint      NOT NULL,             -- position in the hash chain (1, 2, ...)
    uuid                uuid        NOT NULL,             -- the sender's event id
    event_time          timestamptz NOT NULL,             -- when it happened (sender's clock)
    archived_at         timestamptz NOT NULL,             -- when the archiver committed it
    type                text        NOT NULL CHECK (type IN (
                            'join', 'leave', 'nick', 'groupchat', 'private', 'subject', 'config',
                            'role', 'affiliation', 'kick', 'ban', 'invite', 'create', 'destroy',
                            'history', 'mam', 'purge', 'chat')),
    sender              text        NOT NULL,             -- the component or server that sent it
    room                text,                             -- room@service (room events)
    actor_jid           text,                             -- real full JID of who did it
    actor_nick          text,
    actor_role          text,
    actor_affiliation   text,
    target_jid          text,                             -- who it was done to
    target_nick         text,
    target_role         text,                             -- role / affiliation after the change
    target_affiliation  text,
    reason              text,
    direction           text        CHECK (direction IN ('in', 'out')),  -- tap copies
    msg_type            text,                             -- the message's type attribute
    subject             text,
    thread              text,
    body                text,
    recipients          text[]      NOT NULL DEFAULT '{}', -- real JIDs it was delivered to
    detail              text,                             -- <detail/> XML (forms, MAM queries, ...)
    stanza              text,                             -- the original stanza (XML)
    stamp               timestamptz,                      -- its XEP-0203 delay stamp
    hash                bytea       NOT NULL,             -- sha256(previous hash || canonical row)
    body_tsv            tsvector    GENERATED ALWAYS AS (
                            to_tsvector('simple'::regconfig,
                                        coalesce(subject, '') || ' ' || coalesce(body, ''))) STORED
) PARTITION BY RANGE (event_time);

-- Anything outside the monthly partitions (clock skew, old events on first
-- start) lands here instead of being refused.
CREATE TABLE IF NOT EXISTS events_default PARTITION OF events DEFAULT;

CREATE INDEX IF NOT EXISTS events_seq ON events (seq);
CREATE INDEX IF NOT EXISTS events_time ON events (event_time);
CREATE INDEX IF NOT EXISTS events_uuid ON events (uuid);
CREATE INDEX IF NOT EXISTS events_room ON events (room, seq);
CREATE INDEX IF NOT EXISTS events_actor ON events (actor_jid text_pattern_ops);
CREATE INDEX IF NOT EXISTS events_target ON events (target_jid text_pattern_ops);
CREATE INDEX IF NOT EXISTS events_recipients ON events USING gin (recipients);
CREATE INDEX IF NOT EXISTS events_fts ON events USING gin (body_tsv);

-- The canonical form a row's hash covers: every column but the hash and the
-- derived tsvector, in this order, each as a netstring of its text form
-- ("len:bytes," with len in UTF-8 bytes; '~' for NULL); timestamps as integer
-- microseconds since the epoch; recipients as "count:" + netstrings + ";".
-- src/core/hashchain.c computes the same bytes independently (the verifier
-- must not trust functions stored in the database it checks).
CREATE OR REPLACE FUNCTION compliance_ns(t text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT coalesce(octet_length(t)::text || ':' || t || ',', '~') $$;

CREATE OR REPLACE FUNCTION compliance_us(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT (extract(epoch FROM t) * 1000000)::bigint::text $$;

CREATE OR REPLACE FUNCTION compliance_ns_array(a text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT coalesce(cardinality(a)::text || ':' || coalesce((SELECT string_agg(compliance_ns(e), '' ORDER BY o) FROM unnest(a) WITH ORDINALITY AS u (e, o)), '') || ';', '~') $$;

CREATE OR REPLACE FUNCTION compliance_canonical(
    seq bigint, uuid uuid, event_time timestamptz, archived_at timestamptz, type text,
    sender text, room text, actor_jid text, actor_nick text, actor_role text,
    actor_affiliation text, target_jid text, target_nick text, target_role text,
    target_affiliation text, reason text, direction text, msg_type text, subject text,
    thread text, body text, recipients text[], detail text, stanza text, stamp timestamptz)
RETURNS bytea LANGUAGE sql STABLE AS
$$
SELECT convert_to('confab-compliance-1;'
    || compliance_ns(seq::text) || compliance_ns(uuid::text)
    || compliance_ns(compliance_us(event_time)) || compliance_ns(compliance_us(archived_at))
    || compliance_ns(type) || compliance_ns(sender) || compliance_ns(room)
    || compliance_ns(actor_jid) || compliance_ns(actor_nick) || compliance_ns(actor_role)
    || compliance_ns(actor_affiliation) || compliance_ns(target_jid) || compliance_ns(target_nick)
    || compliance_ns(target_role) || compliance_ns(target_affiliation) || compliance_ns(reason)
    || compliance_ns(direction) || compliance_ns(msg_type) || compliance_ns(subject)
    || compliance_ns(thread) || compliance_ns(body) || compliance_ns_array(recipients)
    || compliance_ns(detail) || compliance_ns(stanza) || compliance_ns(compliance_us(stamp)),
    'UTF8')
$$;

-- Monthly partitions from last month to months_ahead months ahead; returns
-- how many it created. confab-archiver runs it at start-up and daily; it runs
-- as the owner (SECURITY DEFINER), so the archiver's role needs no DDL rights.
CREATE OR REPLACE FUNCTION compliance_ensure_partitions(months_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS
$$
DECLARE
    first_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month';
    lo timestamp;
    part text;
    made integer := 0;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120';
    END IF;
    PERFORM pg_advisory_xact_lock(7311, 2);
    FOR i IN 0 .. months_ahead + 1 LOOP
        lo := first_month + make_interval(months => i);
        part := 'events_' || to_char(lo, 'YYYY_MM');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                           part, to_char(lo, 'YYYY-MM-DD') || ' 00:00:00+00',
                           to_char(lo + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
            made := made + 1;
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'partition % not created: events_default holds rows of that month', part;
        END;
    END LOOP;
    RETURN made;
END
$$;

SELECT compliance_ensure_partitions(3);

INSERT INTO schema_version (version, name) VALUES (2, 'events') ON CONFLICT (version) DO NOTHING;
