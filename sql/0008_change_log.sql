-- depends: 0005_table_versions
-- Change tracking that no writer waits on (replaces data_version and table_version, whose single
-- row every write updated: every writer waited for every other to commit, and a writer that had
-- locked another row first could deadlock with it).
--
-- Each statement that writes a tracked table appends one row to change_log, in its own
-- transaction, with that transaction's id: appending takes no lock another writer holds (the id
-- comes from a sequence, the row is new). A reader knows what changed since it read by the
-- snapshot it read under: the rows of change_log whose transaction that snapshot did not see.
-- That stays exact when transactions commit out of the order of their ids or sequence numbers,
-- which a "version number" compared with < would get wrong.
--
-- For `activity`, the rows a statement wrote are named too, so a cache can read just those:
-- an INSERT by the range of ids it created (the importer reserves a block, so the range is
-- exact; ids of another transaction that fall inside are read once more, harmlessly), an UPDATE
-- or DELETE by its ids (NULL past 100,000 ids: the reader then reads the table again).
DROP TRIGGER IF EXISTS member_merge_bump_version ON member_merge;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['platform', 'member', 'member_identity', 'activity', 'rule',
        'moderation_case', 'event', 'event_attendance', 'mention', 'sponsor', 'campaign',
        'campaign_delivery', 'revenue', 'reward_rule', 'reward_budget', 'reward', 'app_setting']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_bump_version', t);
    END LOOP;
END $$;
DROP FUNCTION bump_data_version();
DROP TABLE data_version;
DROP TABLE table_version;

CREATE TABLE change_log (
    id          bigserial PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at          timestamptz NOT NULL DEFAULT now(),
    table_name  text NOT NULL,
    op          text NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'truncate')),
    first_id    bigint,    -- insert: the range of ids the statement created
    last_id     bigint,
    ids         bigint[],  -- update, delete: the ids it changed (NULL: too many, or not tracked)
    row_count   bigint
);
CREATE INDEX change_log_txid ON change_log (txid);
CREATE INDEX change_log_at ON change_log (at);

-- Any table: one row per writing statement. SECURITY DEFINER: writers need no right on change_log.
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO change_log (table_name, op) VALUES (TG_TABLE_NAME, lower(TG_OP));
    RETURN NULL;
END $$;

-- Tables read incrementally (an `id` column): which rows the statement wrote.
CREATE FUNCTION log_inserted_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO change_log (table_name, op, first_id, last_id, row_count)
        SELECT TG_TABLE_NAME, 'insert', min(id), max(id), count(*) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION log_changed_rows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT count(*) INTO n FROM new_rows;
        IF n > 0 THEN
            INSERT INTO change_log (table_name, op, ids, row_count)
                SELECT TG_TABLE_NAME, 'update', CASE WHEN n <= 100000 THEN array_agg(id) END, n FROM new_rows;
        END IF;
    ELSE
        SELECT count(*) INTO n FROM old_rows;
        IF n > 0 THEN
            INSERT INTO change_log (table_name, op, ids, row_count)
                SELECT TG_TABLE_NAME, 'delete', CASE WHEN n <= 100000 THEN array_agg(id) END, n FROM old_rows;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- What a migration calls for each table it creates whose writes caches must see.
CREATE FUNCTION track_changes(t regclass, rows_by_id boolean DEFAULT false) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = t);
BEGIN
    IF NOT rows_by_id THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION log_change()', name || '_log_change', t);
        RETURN;
    END IF;
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION log_inserted_rows()', name || '_log_insert', t);
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION log_changed_rows()', name || '_log_update', t);
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION log_changed_rows()', name || '_log_delete', t);
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION log_change()', name || '_log_truncate', t);
END $$;

DO $$
DECLARE t text;
BEGIN
    PERFORM track_changes('activity', rows_by_id => true);
    FOREACH t IN ARRAY ARRAY['platform', 'member', 'member_identity', 'rule', 'moderation_case', 'event',
        'event_attendance', 'mention', 'sponsor', 'campaign', 'campaign_delivery', 'revenue', 'reward_rule',
        'reward_budget', 'reward', 'app_setting', 'member_merge']
    LOOP
        PERFORM track_changes(t::regclass);
    END LOOP;
END $$;

-- Rows older than `keep` are of no use once every cache has caught up. A cache whose snapshot did
-- not see a pruned row cannot know what it missed: `pruned_upto` says which were pruned, and such
-- a cache reads its tables again. The app calls this from time to time.
CREATE TABLE change_log_horizon (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_upto  xid8 NOT NULL
);
INSERT INTO change_log_horizon VALUES (true, '0');

CREATE FUNCTION prune_change_log(keep interval DEFAULT '1 day') RETURNS bigint LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public AS $$
DECLARE
    n bigint;
    upto xid8;
BEGIN
    WITH gone AS (DELETE FROM change_log WHERE at < now() - keep RETURNING txid)
        SELECT count(*), max(txid) INTO n, upto FROM gone;
    IF n > 0 THEN
        UPDATE change_log_horizon SET pruned_upto = greatest(pruned_upto, upto);
    END IF;
    RETURN n;
END $$;
