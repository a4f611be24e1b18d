-- Appending many events in one statement (issue 5: archiver throughput). The
-- archiver sends every event that arrived in one loop turn as one JSON array;
-- this function claims their UUIDs, extends the hash chain row by row (the
-- chain is sequential by nature) and inserts all new rows with one INSERT.
-- It computes exactly what 002_events.sql's one-event statement computes:
-- the same canonical form, the same order (input order), the same row lock on
-- chain_head, so hashchain.c verifies rows from either path alike.
--
-- Idempotent: a UUID already in event_ids (an earlier run of the same batch,
-- or a duplicate inside it) inserts nothing and leaves the head alone.
-- Returns one row per input element: its 1-based position and the seq it got,
-- NULL when it was a duplicate.

-- One step of the chain, as an aggregate run as a window function over the
-- new rows in order: the running state is the previous row's hash (the head's
-- hash before the first row).
CREATE OR REPLACE FUNCTION compliance_chain_step(prev bytea, canon bytea, head bytea)
RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN RETURN sha256(coalesce(prev, head) || canon); END $$;

CREATE OR REPLACE AGGREGATE compliance_chain(bytea, bytea) (
    SFUNC = compliance_chain_step, STYPE = bytea);

-- The canonical bytes below are compliance_canonical()'s (002_events.sql),
-- written out so that the recipients' part is computed once per row inside
-- this query: compliance_ns_array() holds a sub-SELECT, which keeps the SQL
-- function from being inlined and costs more than the rest of the row.
-- hashchain.c (confabctl compliance verify) checks rows from this path and
-- the one-event path alike.
CREATE OR REPLACE FUNCTION compliance_put_batch(batch json)
RETURNS TABLE (ord bigint, seq bigint)
LANGUAGE plpgsql AS
$$
DECLARE
    head_seq bigint;
    head_hash bytea;
    new_seq bigint;
    new_hash bytea;
    ords bigint[];
    seqs bigint[];
BEGIN
    -- The row lock first: concurrent writers queue here, so the chain order is
    -- the commit order (each sees the head its predecessor committed).
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM chain_head h WHERE h.id = 1 FOR UPDATE;
    WITH v AS (
        SELECT x.*,
               ARRAY(SELECT e FROM json_array_elements_text(x.rcpt) WITH ORDINALITY
                     AS j (e, o) ORDER BY o) AS recipients,
               (SELECT count(*)::text || ':' || coalesce(string_agg(compliance_ns(e), ''
                                                                    ORDER BY o), '') || ';'
                FROM json_array_elements_text(x.rcpt) WITH ORDINALITY AS j (e, o))
                   AS rcpt_canon
        FROM ROWS FROM (json_to_recordset(batch) AS (
            uuid uuid, event_time timestamptz, type text, sender text, room text,
            actor_jid text, actor_nick text, actor_role text, actor_affiliation text,
            target_jid text, target_nick text, target_role text, target_affiliation text,
            reason text, direction text, msg_type text, subject text, thread text,
            body text, rcpt json, detail text, stanza text, stamp timestamptz))
            WITH ORDINALITY AS x (uuid, event_time, type, sender, room, actor_jid,
                actor_nick, actor_role, actor_affiliation, target_jid, target_nick,
                target_role, target_affiliation, reason, direction, msg_type, subject,
                thread, body, rcpt, detail, stanza, stamp, o)),
    -- first occurrence of each UUID, and only UUIDs not claimed before
    firsts AS (SELECT DISTINCT ON (v.uuid) v.* FROM v ORDER BY v.uuid, v.o),
    claimed AS (INSERT INTO event_ids (uuid) SELECT f.uuid FROM firsts f
                ON CONFLICT (uuid) DO NOTHING RETURNING event_ids.uuid),
    numbered AS (SELECT f.*, head_seq + row_number() OVER (ORDER BY f.o) AS s
                 FROM firsts f JOIN claimed c ON c.uuid = f.uuid),
    chained AS (
        SELECT n.*, compliance_chain(convert_to('confab-compliance-1;'
            || compliance_ns(n.s::text) || compliance_ns(n.uuid::text)
            || compliance_ns(compliance_us(n.event_time)) || compliance_ns(compliance_us(now()))
            || compliance_ns(n.type) || compliance_ns(n.sender) || compliance_ns(n.room)
            || compliance_ns(n.actor_jid) || compliance_ns(n.actor_nick)
            || compliance_ns(n.actor_role) || compliance_ns(n.actor_affiliation)
            || compliance_ns(n.target_jid) || compliance_ns(n.target_nick)
            || compliance_ns(n.target_role) || compliance_ns(n.target_affiliation)
            || compliance_ns(n.reason) || compliance_ns(n.direction)
            || compliance_ns(n.msg_type) || compliance_ns(n.subject)
            || compliance_ns(n.thread) || compliance_ns(n.body) || n.rcpt_canon
            || compliance_ns(n.detail) || compliance_ns(n.stanza)
            || compliance_ns(compliance_us(n.stamp)), 'UTF8'), head_hash)
            OVER (ORDER BY n.s ROWS UNBOUNDED PRECEDING) AS h
        FROM numbered n),
    ins AS (INSERT INTO events (seq, uuid, event_time, archived_at, type, sender, room,
                actor_jid, actor_nick, actor_role, actor_affiliation, target_jid, target_nick,
                target_role, target_affiliation, reason, direction, msg_type, subject, thread,
                body, recipients, detail, stanza, stamp, hash)
            SELECT c.s, c.uuid, c.event_time, now(), c.type, c.sender, c.room, c.actor_jid,
                c.actor_nick, c.actor_role, c.actor_affiliation, c.target_jid, c.target_nick,
                c.target_role, c.target_affiliation, c.reason, c.direction, c.msg_type,
                c.subject, c.thread, c.body, c.recipients, c.detail, c.stanza, c.stamp, c.h
            FROM chained c)
    SELECT max(c.s), (array_agg(c.h ORDER BY c.s DESC))[1], array_agg(c.o), array_agg(c.s)
      INTO new_seq, new_hash, ords, seqs
      FROM chained c;
    IF new_seq IS NOT NULL THEN
        UPDATE chain_head h SET seq = new_seq, hash = new_hash WHERE h.id = 1;
    END IF;
    RETURN QUERY
        SELECT a.o::bigint, n.s
        FROM generate_series(1, json_array_length(batch)) AS a (o)
        LEFT JOIN unnest(ords, seqs) AS n (o, s) ON n.o = a.o
        ORDER BY a.o;
END
$$;

REVOKE ALL ON FUNCTION compliance_put_batch(json) FROM PUBLIC;
REVOKE ALL ON FUNCTION compliance_chain_step(bytea, bytea, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION compliance_chain_step(bytea, bytea, bytea) TO confab_archiver;
GRANT EXECUTE ON FUNCTION compliance_put_batch(json) TO confab_archiver;

INSERT INTO schema_version (version, name) VALUES (5, 'put_batch') ON CONFLICT (version) DO NOTHING;
