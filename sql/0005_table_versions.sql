-- depends: 0004_version_notify
-- Each table's own version, the data version of its latest write: a cache built from some tables
-- stays valid through writes to others (a reward's approval no longer makes the KPI pages read
-- every activity again). The NOTIFY says which table: "<version> <table>". A table never written
-- since this migration has no row, and counts as version 0.
CREATE TABLE table_version (
    name     text PRIMARY KEY,
    version  bigint NOT NULL
);

CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bumped bigint;
BEGIN
    UPDATE data_version SET version = version + 1 RETURNING version INTO bumped;
    INSERT INTO table_version VALUES (TG_TABLE_NAME, bumped)
        ON CONFLICT (name) DO UPDATE SET version = excluded.version;
    PERFORM pg_notify('data_version', bumped::text || ' ' || TG_TABLE_NAME);
    RETURN NULL;
END $$;
