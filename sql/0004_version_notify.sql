-- depends: 0003_imports
-- The bump also announces the new version (NOTIFY data_version, delivered when the writer commits):
-- the app keeps the version in memory (cmcore/version_feed.py) instead of asking at every view.
CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bumped bigint;
BEGIN
    UPDATE data_version SET version = version + 1 RETURNING version INTO bumped;
    PERFORM pg_notify('data_version', bumped::text);
    RETURN NULL;
END $$;
