-- Every statement is idempotent: a migration is one pipeline segment (one
-- transaction), and db.c may re-run statements after a lost connection.
-- A room's vCard-temp (XEP-0054) as its owner set it, and the SHA-1 of each of
-- its photos (XEP-0486 muc#roominfo_avatarhash, space-separated), kept so that
-- loading a room does not decode the image again. Goes with its room.
CREATE TABLE IF NOT EXISTS room_vcards (
    room_id     bigint      PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    vcard       text        NOT NULL,             -- <vCard xmlns='vcard-temp'>…</vCard>
    photo_hash  text,                             -- NULL: no photo with BINVAL
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_version (version, name) VALUES (4, 'room_vcard') ON CONFLICT (version) DO NOTHING;
