-- depends: 0013_sessions
-- The change log's SECURITY DEFINER functions name `change_log` unqualified with search_path =
-- public, and PostgreSQL then searches pg_temp first: a session of the application role could
-- create a temporary `change_log` and its writes would log there, unseen by every cache. Pinned
-- as the other definer functions are (sql/0009, 0012): pg_temp last.
ALTER FUNCTION log_change() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION log_inserted_rows() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION log_changed_rows() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION prune_change_log(interval) SET search_path = pg_catalog, public, pg_temp;
