-- Who may do what (docs/compliance.md). The roles are NOLOGIN groups: grant
-- them to login roles (GRANT confab_archiver TO archiver_login) or ALTER ROLE
-- ... LOGIN. Roles are cluster-wide; the grants below are this database's.
--   confab_archiver  appends events (INSERT), moves the chain head, creates
--                    partitions through compliance_ensure_partitions()
--   confab_officer   reads everything (SELECT)
--   PUBLIC           nothing; only the owner may UPDATE or DELETE
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'confab_archiver') THEN CREATE ROLE confab_archiver NOLOGIN; END IF; END $$;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'confab_officer') THEN CREATE ROLE confab_officer NOLOGIN; END IF; END $$;

REVOKE ALL ON schema_version, event_ids, chain_head, events, events_default FROM PUBLIC;
REVOKE ALL ON compliance_im, jm, tc_msgarchive, tc_timelog, tc_rooms, tc_users FROM PUBLIC;
REVOKE ALL ON FUNCTION compliance_ensure_partitions(integer) FROM PUBLIC;

GRANT SELECT ON schema_version TO confab_archiver, confab_officer;
GRANT INSERT ON events, event_ids TO confab_archiver;
GRANT SELECT (uuid) ON event_ids TO confab_archiver;
GRANT SELECT, UPDATE ON chain_head TO confab_archiver;
GRANT EXECUTE ON FUNCTION compliance_ensure_partitions(integer) TO confab_archiver;

GRANT SELECT ON events, event_ids, chain_head TO confab_officer;
GRANT SELECT ON compliance_im, jm, tc_msgarchive, tc_timelog, tc_rooms, tc_users TO confab_officer;

INSERT INTO schema_version (version, name) VALUES (4, 'roles') ON CONFLICT (version) DO NOTHING;
