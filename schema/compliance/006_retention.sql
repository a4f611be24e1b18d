-- Legal holds and retention cleanup (docs/compliance.md, "Retention").
--
-- A purge deletes old rows, which would break the hash chain at the first row
-- after each deleted run. So the purge keeps, for every run of consecutive
-- deleted seqs, the seq range and the stored hash of its last row
-- (chain_gaps), and lists those runs in the detail of the purge event it
-- appends to the chain. The verifier steps over a gap with its recorded hash,
-- and accepts a gap only if the (hash-covered) purge event names it, so rows
-- deleted outside a purge still break the chain.

-- A hold keeps every event of a room (kind 'room', the room JID), or every
-- event a user did, was the target of, or received (kind 'user', bare JID),
-- from being purged. Released holds stay as history.
CREATE TABLE IF NOT EXISTS holds (
    id                  bigserial   PRIMARY KEY,
    kind                text        NOT NULL CHECK (kind IN ('user', 'room')),
    jid                 text        NOT NULL,
    reason              text,
    placed_at           timestamptz NOT NULL DEFAULT now(),
    placed_by           text        NOT NULL DEFAULT current_user,
    released_at         timestamptz,
    released_by         text
);
CREATE UNIQUE INDEX IF NOT EXISTS holds_active ON holds (kind, jid) WHERE released_at IS NULL;

CREATE TABLE IF NOT EXISTS chain_gaps (
    first_seq           bigint      PRIMARY KEY,
    last_seq            bigint      NOT NULL CHECK (last_seq >= first_seq),
    last_hash           bytea       NOT NULL CHECK (octet_length(last_hash) = 32),
    purge_seq           bigint      NOT NULL            -- the purge event that names this gap
);

-- Is this row held? (The purge's only test; kept here so every caller agrees.)
CREATE OR REPLACE FUNCTION compliance_held(room text, actor_jid text, target_jid text,
                                           recipients text[])
RETURNS boolean LANGUAGE sql STABLE AS
$$
SELECT EXISTS (
    SELECT 1 FROM holds h
    WHERE h.released_at IS NULL
      AND ((h.kind = 'room' AND h.jid = room)
        OR (h.kind = 'user' AND (split_part(actor_jid, '/', 1) = h.jid
                                 OR split_part(target_jid, '/', 1) = h.jid
                                 OR EXISTS (SELECT 1 FROM unnest(recipients) AS r (j)
                                            WHERE split_part(r.j, '/', 1) = h.jid)))))
$$;

-- Delete every event older than `before` that no active hold covers (purge
-- events themselves are kept: they are the record of what was deleted), and
-- append one 'purge' event whose detail lists the gaps made. Runs as the
-- caller (the owner: nobody else may DELETE). Idempotent on purge_uuid: a
-- second call with the same UUID changes nothing and returns the first
-- call's purge seq with NULL counts.
CREATE OR REPLACE FUNCTION compliance_purge(before timestamptz, purge_uuid uuid,
                                            actor text, why text)
RETURNS TABLE (purge_seq bigint, deleted bigint, held bigint, gaps bigint)
LANGUAGE plpgsql AS
$$
DECLARE
    head_seq bigint;
    head_hash bytea;
    victims bigint[];
    n_held bigint;
    n_gaps bigint;
    gap_xml text;
    detail_xml text;
    t timestamptz := now();
BEGIN
    IF before IS NULL OR purge_uuid IS NULL THEN
        RAISE EXCEPTION 'compliance_purge: before and purge_uuid are required';
    END IF;
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM chain_head h WHERE h.id = 1 FOR UPDATE;
    IF EXISTS (SELECT 1 FROM event_ids i WHERE i.uuid = purge_uuid) THEN
        RETURN QUERY SELECT e.seq, NULL::bigint, NULL::bigint, NULL::bigint
                     FROM events e WHERE e.uuid = purge_uuid;
        RETURN;
    END IF;
    SELECT coalesce(array_agg(e.seq ORDER BY e.seq) FILTER (WHERE NOT e.h), '{}'),
           count(*) FILTER (WHERE e.h)
      INTO victims, n_held
      FROM (SELECT x.seq, compliance_held(x.room, x.actor_jid, x.target_jid, x.recipients) AS h
            FROM events x WHERE x.event_time < before AND x.type <> 'purge') e;
    -- Runs of consecutive seqs (islands) among the victims.
    WITH v AS (SELECT s, s - row_number() OVER (ORDER BY s) AS grp FROM unnest(victims) AS u (s)),
    runs AS (SELECT min(s) AS f, max(s) AS l FROM v GROUP BY grp),
    ins AS (INSERT INTO chain_gaps (first_seq, last_seq, last_hash, purge_seq)
            SELECT runs.f, runs.l, e.hash, head_seq + 1
            FROM runs JOIN events e ON e.seq = runs.l
            RETURNING first_seq, last_seq, last_hash)
    SELECT count(*), coalesce(string_agg(format('<gap first=''%s'' last=''%s'' hash=''%s''/>',
                                                ins.first_seq, ins.last_seq,
                                                encode(ins.last_hash, 'hex')),
                                         '' ORDER BY ins.first_seq), '')
      INTO n_gaps, gap_xml FROM ins;
    DELETE FROM events e WHERE e.seq = ANY (victims);
    detail_xml := format('<purge xmlns=''urn:confab:compliance:0'' before=''%s'' deleted=''%s'' '
                         'held=''%s''>%s</purge>',
                         to_char(before AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                         cardinality(victims), n_held, gap_xml);
    head_seq := head_seq + 1;
    head_hash := sha256(head_hash || compliance_canonical(head_seq, purge_uuid, t, t, 'purge',
        'confabctl', NULL, actor, NULL, NULL, NULL, NULL, NULL, NULL, NULL, why, NULL, NULL,
        NULL, NULL, NULL, '{}'::text[], detail_xml, NULL, NULL));
    INSERT INTO event_ids (uuid) VALUES (purge_uuid);
    INSERT INTO events (seq, uuid, event_time, archived_at, type, sender, actor_jid, reason,
                        recipients, detail, hash)
    VALUES (head_seq, purge_uuid, t, t, 'purge', 'confabctl', actor, why, '{}', detail_xml,
            head_hash);
    UPDATE chain_head h SET seq = head_seq, hash = head_hash WHERE h.id = 1;
    RETURN QUERY SELECT head_seq, cardinality(victims)::bigint, n_held, n_gaps;
END
$$;

REVOKE ALL ON holds, chain_gaps FROM PUBLIC;
REVOKE ALL ON FUNCTION compliance_purge(timestamptz, uuid, text, text) FROM PUBLIC;
GRANT SELECT ON holds, chain_gaps TO confab_officer;

INSERT INTO schema_version (version, name) VALUES (6, 'retention') ON CONFLICT (version) DO NOTHING;
