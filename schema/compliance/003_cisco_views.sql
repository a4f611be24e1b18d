-- Views named and shaped like the tables of Cisco IM and Presence's external
-- compliance database (JM, TC_MSGARCHIVE, TC_TIMELOG, TC_ROOMS, TC_USERS), so
-- that queries written for Cisco run unchanged (docs/compliance.md lists the
-- mapping). Times are UTC 'timestamp without time zone', as Cisco's are, so
-- CAST(sent_date AS Character(32)) LIKE '2011-01-31%' means a UTC day.

-- Every event that carries a message, with Cisco's derived columns.
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
WHERE e.type IN ('chat', 'groupchat', 'private', 'history') AND e.stanza IS NOT NULL;

-- JM: one row per copy of a message, as Cisco's Message Archiver logs it.
-- 1:1 copies from the router tap keep their direction (I = as sent by the
-- user, O = as delivered to the user, U = unknown: ejabberd's
-- mod_service_log). A room message gives one I row (to the room, or to
-- room/nick for a private message) and one O row per occupant it was
-- delivered to; history served on join gives O rows with history_flag H.
CREATE OR REPLACE VIEW jm AS
SELECT to_jid, from_jid, sent_date, subject, thread_id, msg_type, direction, body_len,
       message_len, body_string, message_string, body_text, message_text, history_flag
FROM (
    SELECT m.seq, coalesce(m.target_jid, '') AS to_jid, coalesce(m.actor_jid, '') AS from_jid,
           m.sent_date, m.subject, m.thread_id, m.msg_type,
           CASE m.direction WHEN 'in' THEN 'I' WHEN 'out' THEN 'O' ELSE 'U' END AS direction,
           m.body_len, m.message_len, m.body_string, m.message_string, m.body_text,
           m.message_text, 'N' AS history_flag
    FROM compliance_im m WHERE m.type = 'chat'
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

-- TC_MSGARCHIVE: every room message (msg_id is the event's chain position).
CREATE OR REPLACE VIEW tc_msgarchive AS
SELECT m.seq AS msg_id, m.room AS to_jid, coalesce(m.actor_jid, '') AS from_jid,
       m.room || '/' || coalesce(m.actor_nick, '') AS nick_jid, m.sent_date, m.msg_type,
       m.body_len, m.message_len, m.body_string, m.message_string, m.body_text, m.message_text,
       (SELECT s.subject FROM events s
        WHERE s.type = 'subject' AND s.room = m.room AND s.seq < m.seq
        ORDER BY s.seq DESC LIMIT 1) AS subject
FROM compliance_im m WHERE m.type = 'groupchat';

-- TC_TIMELOG: room entries (E) and exits (L). A nick change is an exit under
-- the old nick and an entry under the new one; kicked and banned occupants exit.
CREATE OR REPLACE VIEW tc_timelog AS
SELECT real_jid, nick_jid, direction, stamp
FROM (
    SELECT e.seq, 1 AS ord, e.actor_jid AS real_jid, e.room || '/' || e.actor_nick AS nick_jid,
           CASE WHEN e.type = 'join' THEN 'E' ELSE 'L' END AS direction,
           (e.event_time AT TIME ZONE 'UTC') AS stamp
    FROM events e WHERE e.type IN ('join', 'leave', 'nick') AND e.actor_nick IS NOT NULL
    UNION ALL
    SELECT e.seq, 2, coalesce(e.target_jid, e.actor_jid), e.room || '/' || e.target_nick, 'E',
           (e.event_time AT TIME ZONE 'UTC')
    FROM events e WHERE e.type = 'nick' AND e.target_nick IS NOT NULL
    UNION ALL
    SELECT e.seq, 1, e.target_jid, e.room || '/' || e.target_nick, 'L',
           (e.event_time AT TIME ZONE 'UTC')
    FROM events e WHERE e.type IN ('kick', 'ban') AND e.target_nick IS NOT NULL
) t;

-- TC_ROOMS: rooms that exist (created, not destroyed since), with the last
-- configuration and subject stanzas.
CREATE OR REPLACE VIEW tc_rooms AS
SELECT c.room AS room_jid, coalesce(c.actor_jid, '') AS creator_jid,
       coalesce(s.subject, '') AS subject,
       CASE WHEN (xpath('//d:field[@var="muc#roomconfig_persistentroom"]/d:value/text()',
                        cfg.detail::xml, ARRAY[ARRAY['d', 'jabber:x:data']]))[1]::text
                 IN ('1', 'true')
            THEN 'persistent' ELSE 'ad-hoc' END AS type,
       coalesce(cfg.stanza, cfg.detail, '') AS config,
       coalesce(s.stanza, '') AS spacket,
       coalesce(g.first_seq, 0) AS start_msg_id,
       coalesce(g.last_seq, 0) + 1 AS next_msg_id
FROM (SELECT DISTINCT ON (room) room, actor_jid, seq FROM events
      WHERE type = 'create' ORDER BY room, seq DESC) c
LEFT JOIN LATERAL (SELECT e.detail, e.stanza FROM events e
                   WHERE e.room = c.room AND e.type IN ('create', 'config') AND e.seq >= c.seq
                     AND e.detail IS NOT NULL
                   ORDER BY e.seq DESC LIMIT 1) cfg ON true
LEFT JOIN LATERAL (SELECT e.subject, e.stanza FROM events e
                   WHERE e.room = c.room AND e.type = 'subject' AND e.seq >= c.seq
                   ORDER BY e.seq DESC LIMIT 1) s ON true
LEFT JOIN LATERAL (SELECT min(e.seq) AS first_seq, max(e.seq) AS last_seq FROM events e
                   WHERE e.room = c.room AND e.type = 'groupchat' AND e.seq >= c.seq) g ON true
WHERE NOT EXISTS (SELECT 1 FROM events d
                  WHERE d.room = c.room AND d.type = 'destroy' AND d.seq > c.seq);

-- TC_USERS: each user's latest known role, affiliation and nick per room.
CREATE OR REPLACE VIEW tc_users AS
SELECT DISTINCT ON (room_jid, real_jid)
       room_jid, real_jid, role, affiliation, nick_jid, reason, initiator_jid
FROM (
    SELECT e.seq, e.room AS room_jid, e.actor_jid AS real_jid,
           CASE WHEN e.type = 'leave' THEN 'none' ELSE coalesce(e.actor_role, 'none') END AS role,
           coalesce(e.actor_affiliation, 'none') AS affiliation,
           e.room || '/' || coalesce(CASE WHEN e.type = 'nick' THEN e.target_nick END,
                                     e.actor_nick, '') AS nick_jid,
           e.reason, NULL::text AS initiator_jid
    FROM events e WHERE e.type IN ('join', 'leave', 'nick') AND e.actor_jid IS NOT NULL
    UNION ALL
    SELECT e.seq, e.room, e.target_jid, coalesce(e.target_role, 'none'),
           coalesce(e.target_affiliation, 'none'), e.room || '/' || coalesce(e.target_nick, ''),
           e.reason, e.actor_jid
    FROM events e
    WHERE e.type IN ('role', 'affiliation', 'kick', 'ban') AND e.target_jid IS NOT NULL
) u
WHERE room_jid IS NOT NULL
ORDER BY room_jid, real_jid, seq DESC;

INSERT INTO schema_version (version, name) VALUES (3, 'cisco_views') ON CONFLICT (version) DO NOTHING;
