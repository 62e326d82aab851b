-- depends: 0006_real_exports
-- Least privilege (docs/database.md). The role that runs the migrations owns every object; the
-- application logs in as cm_app (or as a member of it), which owns nothing and holds only what is
-- granted here and by later migrations, following one convention:
--   * every new table gives cm_app SELECT, INSERT and UPDATE, every new sequence USAGE, SELECT and
--     UPDATE (the default privileges below, set for the role that runs the migrations);
--   * DELETE is granted table by table, where the application deletes rows;
--   * a table the application must not change, or only append to, REVOKEs what it may not do;
--   * TRUNCATE, REFERENCES, TRIGGER and CREATE are never granted; a SECURITY DEFINER function
--     (owned by the owner, search_path pinned) does what needs more, and only that.
DO $$
BEGIN
    IF to_regrole('cm_app') IS NULL THEN
        RAISE EXCEPTION 'the application role cm_app does not exist: create it first (docs/database.md)';
    END IF;
END $$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cm_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO cm_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO cm_app;

GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO cm_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO cm_app;
-- The migrations' own record: the application only checks that none is pending.
REVOKE INSERT, UPDATE ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock FROM cm_app;
-- Append-only (sql/0012 chains its rows).
REVOKE UPDATE ON audit_log FROM cm_app;
-- Written by the owner's trigger functions only (sql/0008); the application reads them.
REVOKE INSERT, UPDATE ON change_log, change_log_horizon FROM cm_app;
REVOKE USAGE, UPDATE ON SEQUENCE change_log_id_seq FROM cm_app;
-- A merge moves a member's event registrations, dropping those the other member has already.
GRANT DELETE ON event_attendance TO cm_app;

-- An import of more new activities than the table holds drops the table's secondary indexes and
-- keys, COPYs, then builds them again (cmcore/ingest/load.py): DDL the application may not run.
-- bulk_load_begin and bulk_load_end run it as the owner, for `activity` only; what they rebuild is
-- read from the catalog and kept in bulk_load, never taken from the caller, and a transaction that
-- would commit without bulk_load_end is refused at commit, so the keys are never left off.
CREATE TABLE bulk_load (
    tbl      regclass PRIMARY KEY,
    restore  text[] NOT NULL
);
REVOKE ALL ON bulk_load FROM cm_app;

CREATE FUNCTION bulk_load_begin(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    restore text[] := '{}';
    keys text[] := '{}';
    r record;
BEGIN
    IF tbl IS DISTINCT FROM 'activity'::regclass THEN
        RAISE EXCEPTION 'bulk loads are for activity only, not %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR r IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint c
             WHERE conrelid = tbl AND (contype = 'f' OR contype = 'u' AND NOT EXISTS (
                 SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid))
             ORDER BY contype DESC, conname LOOP  -- foreign keys, and unique keys that none refers to
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, r.conname);
        keys := keys || format('ALTER TABLE %s ADD CONSTRAINT %I %s', tbl, r.conname, r.def);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS name, pg_get_indexdef(c.oid) AS def FROM pg_index x
             JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = tbl AND NOT x.indisunique LOOP
        EXECUTE format('DROP INDEX %s', r.name);
        restore := restore || r.def;
    END LOOP;
    INSERT INTO bulk_load VALUES (tbl, restore || keys);
END $$;

CREATE FUNCTION bulk_load_end(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    statement text;
BEGIN
    FOREACH statement IN ARRAY (SELECT b.restore FROM bulk_load b WHERE b.tbl = bulk_load_end.tbl) LOOP
        EXECUTE statement;
    END LOOP;
    DELETE FROM bulk_load b WHERE b.tbl = bulk_load_end.tbl;
END $$;

CREATE FUNCTION bulk_load_finished() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bulk_load WHERE tbl = NEW.tbl) THEN
        RAISE EXCEPTION 'the bulk load of % did not rebuild its indexes and keys: nothing is committed', NEW.tbl
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER bulk_load_finished AFTER INSERT ON bulk_load DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bulk_load_finished();

REVOKE EXECUTE ON FUNCTION bulk_load_begin(regclass), bulk_load_end(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bulk_load_begin(regclass), bulk_load_end(regclass) TO cm_app;
