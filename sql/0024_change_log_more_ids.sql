-- depends: 0023_message_language
-- An UPDATE or DELETE of activity names its ids up to 1,000,000 (was 100,000). Merging a busy
-- member moves all their activities in one statement: at 10M activities the busiest have 100,000
-- to 270,000, and past the old limit every cache read the whole table again (6 s) and rebuilt
-- every page cold (8-12 s), where reading back 270,000 rows by id takes a quarter of a second.
-- A million ids is a 8 MB array; past that, a statement has changed a tenth of a 10M table and a
-- whole read is the better way anyway.
CREATE OR REPLACE FUNCTION log_changed_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT count(*) INTO n FROM new_rows;
        IF n > 0 THEN
            INSERT INTO change_log (table_name, op, ids, row_count)
                SELECT TG_TABLE_NAME, 'update', CASE WHEN n <= 1000000 THEN array_agg(id) END, n FROM new_rows;
        END IF;
    ELSE
        SELECT count(*) INTO n FROM old_rows;
        IF n > 0 THEN
            INSERT INTO change_log (table_name, op, ids, row_count)
                SELECT TG_TABLE_NAME, 'delete', CASE WHEN n <= 1000000 THEN array_agg(id) END, n FROM old_rows;
        END IF;
    END IF;
    RETURN NULL;
END $$;
