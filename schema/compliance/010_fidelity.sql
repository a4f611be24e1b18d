-- Compliance fidelity (issue 17 item 7): what a router tap copies is recorded
-- as what it is, and each 1:1 message is found once (docs/compliance.md,
-- "What a tap copy becomes" and "One message, several copies").
--
-- Two event types: `error` (an error stanza that carries a body or subject:
-- delivered text, kept, but not a chat message) and `signal` (a bodiless chat
-- state, receipt or chat marker, recorded only with [archiver]
-- record_signals). Every type of 009 is kept.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'join', 'leave', 'nick', 'groupchat', 'private', 'subject', 'config',
    'role', 'affiliation', 'kick', 'ban', 'invite', 'create', 'destroy',
    'history', 'mam', 'purge', 'chat', 'decline', 'iq', 'moderate',
    'category', 'group', 'policy', 'wall', 'error', 'signal'));

-- The message key (src/archiver/msgkey.h): every copy of one 1:1 message (the
-- tap's in copy and its out copies) has the same one; NULL for room events
-- and for copies archived before this migration. It is derived from columns
-- the hash chain covers (bare actor and target, type, the stanza's id, body,
-- subject, thread, time) and is not itself covered: compliance_messages and
-- confabctl compliance search merge copies only when those covered columns
-- agree too, so an altered key can merge nothing but true copies.
-- A nullable column without a default: no rewrite of an existing archive.
ALTER TABLE events ADD COLUMN IF NOT EXISTS msg_key text;
CREATE INDEX IF NOT EXISTS events_msg_key ON events (msg_key) WHERE msg_key IS NOT NULL;

-- compliance_put_batch() of 005, now also storing msg_key (after the hash:
-- the canonical bytes are unchanged).
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
            body text, rcpt json, detail text, stanza text, stamp timestamptz, msg_key text))
            WITH ORDINALITY AS x (uuid, event_time, type, sender, room, actor_jid,
                actor_nick, actor_role, actor_affiliation, target_jid, target_nick,
                target_role, target_affiliation, reason, direction, msg_type, subject,
                thread, body, rcpt, detail, stanza, stamp, msg_key, o)),
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
                body, recipients, detail, stanza, stamp, hash, msg_key)
            SELECT c.s, c.uuid, c.event_time, now(), c.type, c.sender, c.room, c.actor_jid,
                c.actor_nick, c.actor_role, c.actor_affiliation, c.target_jid, c.target_nick,
                c.target_role, c.target_affiliation, c.reason, c.direction, c.msg_type,
                c.subject, c.thread, c.body, c.recipients, c.detail, c.stanza, c.stamp, c.h,
                c.msg_key
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


-- One row per 1:1 message (tap and mod_service_log copies, types chat, error
-- and signal): its copies grouped by key, with the directions seen (in: as
-- sent, out: as delivered) and the resources it was delivered to. Copies
-- without a key (archived before migration 10) are each their own row. The
-- Cisco views (jm) keep every copy, as Cisco's Message Archiver logs them.
CREATE OR REPLACE VIEW compliance_messages AS
SELECT min(e.seq) AS seq, (array_agg(e.uuid ORDER BY e.seq))[1] AS uuid,
       min(e.event_time) AS event_time, e.type, e.msg_key,
       split_part(e.actor_jid, '/', 1) AS from_jid,
       split_part(e.target_jid, '/', 1) AS to_jid,
       e.msg_type, e.subject, e.thread, e.body,
       array_agg(DISTINCT e.direction) FILTER (WHERE e.direction IS NOT NULL) AS directions,
       array_agg(DISTINCT e.target_jid) FILTER (WHERE e.direction = 'out') AS delivered_to,
       count(*) AS copies, array_agg(e.seq ORDER BY e.seq) AS seqs
FROM events e
WHERE e.type IN ('chat', 'error', 'signal')
GROUP BY coalesce(e.msg_key, e.uuid::text), e.msg_key, e.type,
         split_part(e.actor_jid, '/', 1), split_part(e.target_jid, '/', 1),
         e.msg_type, e.subject, e.thread, e.body;

-- Error and signal copies stay in Cisco's views, where they were as `chat`
-- (msg_type 'e' for errors, as Cisco logs them).
CREATE OR REPLACE VIEW compliance_im AS
SELECT e.seq, e.type, e.room, e.actor_jid, e.actor_nick, e.target_jid, e.target_nick,
       e.recipients, e.direction,
       (e.event_time AT TIME ZONE 'UTC') AS sent_date,
       e.subject, e.thread AS thread_id,
       left(coalesce(nullif(e.msg_type, ''), 'normal'), 1) AS msg_type,
       coalesce(char_length(e.body), 0) AS body_len,
       coalesce(char_length(e.subject), 0) + coalesce(char_length(e.body), 0) AS message_len,
       CASE WHEN char_length(e.body) <= 4000 THEN e.body END AS body_string,
       CASE WHEN char_length(e.stanza) <= 4000 THEN e.stanza END AS message_string,
       CASE WHEN char_length(e.body) > 4000 THEN e.body END AS body_text,
       CASE WHEN char_length(e.stanza) > 4000 THEN e.stanza END AS message_text
FROM events e
WHERE e.type IN ('chat', 'error', 'signal', 'groupchat', 'private', 'history')
  AND e.stanza IS NOT NULL;

CREATE OR REPLACE VIEW jm AS
SELECT to_jid, from_jid, sent_date, subject, thread_id, msg_type, direction, body_len,
       message_len, body_string, message_string, body_text, message_text, history_flag
FROM (
    SELECT m.seq, coalesce(m.target_jid, '') AS to_jid, coalesce(m.actor_jid, '') AS from_jid,
           m.sent_date, m.subject, m.thread_id, m.msg_type,
           CASE m.direction WHEN 'in' THEN 'I' WHEN 'out' THEN 'O' ELSE 'U' END AS direction,
           m.body_len, m.message_len, m.body_string, m.message_string, m.body_text,
           m.message_text, 'N' AS history_flag
    FROM compliance_im m WHERE m.type IN ('chat', 'error', 'signal')
    UNION ALL
    SELECT m.seq,
           CASE WHEN m.type = 'private' THEN m.room || '/' || coalesce(m.target_nick, '')
                ELSE m.room END,
           coalesce(m.actor_jid, ''), m.sent_date, m.subject, m.thread_id, m.msg_type, 'I',
           m.body_len, m.message_len, m.body_string, m.message_string, m.body_text,
           m.message_text, 'N'
    FROM compliance_im m WHERE m.type IN ('groupchat', 'private')
    UNION ALL
    SELECT m.seq, r.jid, coalesce(m.actor_jid, ''), m.sent_date, m.subject, m.thread_id,
           m.msg_type, 'O', m.body_len, m.message_len, m.body_string, m.message_string,
           m.body_text, m.message_text, CASE WHEN m.type = 'history' THEN 'H' ELSE 'N' END
    FROM compliance_im m
    CROSS JOIN LATERAL unnest(CASE WHEN cardinality(m.recipients) = 0 AND m.type = 'history'
                                   THEN ARRAY[m.target_jid] ELSE m.recipients END) AS r (jid)
    WHERE m.type IN ('groupchat', 'private', 'history') AND r.jid IS NOT NULL
) x;

REVOKE ALL ON compliance_messages FROM PUBLIC;
GRANT SELECT ON compliance_messages TO confab_officer;

INSERT INTO schema_version (version, name) VALUES (10, 'fidelity') ON CONFLICT (version) DO NOTHING;
