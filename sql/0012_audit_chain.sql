-- depends: 0011_ledger
-- A tamper-evident audit log (docs/database.md). The database sets each row's id, time and login
-- role, whatever the INSERT says. When the row's transaction commits, the row takes the next place
-- in the chain (seq) and hash = sha256(the previous row's hash || audit_row_text(the row)), so a
-- row edited, deleted or inserted out of place, even by a superuser with every trigger off,
-- breaks the chain there; `./dev cli audit verify` (cmcore/audit.py) recomputes it and names the
-- first row where it breaks.
--
-- Rows are chained in commit order by a deferred trigger that locks the chain's head, audit_head:
-- a transaction takes that lock when it commits, once its own work is done, takes no other lock
-- after it, and holds it for its commit only. Concurrent writers queue on it for that long, never
-- for their whole transaction, and it cannot deadlock.

ALTER TABLE audit_log
    ADD COLUMN db_user text,  -- the login role that wrote the row (NULL: written before this migration)
    ADD COLUMN seq bigint UNIQUE,
    ADD COLUMN hash bytea,
    ALTER COLUMN id DROP DEFAULT;  -- audit_log_stamp draws it, as the owner
REVOKE ALL ON SEQUENCE audit_log_id_seq FROM cm_app;

CREATE TABLE audit_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint NOT NULL,
    hash       bytea NOT NULL
);
REVOKE INSERT, UPDATE ON audit_head FROM cm_app;

-- What a row's hash covers: each field as "<length>:<text>;" ("-;" for NULL), the time in UTC
-- with microseconds, the detail as PostgreSQL writes jsonb (cmcore/audit.py builds the same).
CREATE FUNCTION audit_row_text(r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT string_agg(coalesce(length(f) || ':' || f, '-') || ';', '' ORDER BY n)
    FROM unnest(ARRAY[r.seq::text, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.db_user,
                      r.actor, r.action, r.entity, r.entity_id, r.detail::text]) WITH ORDINALITY AS x(f, n)
$$;

CREATE FUNCTION audit_log_stamp() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    NEW.id := nextval('audit_log_id_seq');
    NEW.at := clock_timestamp();
    NEW.db_user := session_user;
    NEW.seq := NULL;
    NEW.hash := NULL;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_stamp BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_stamp();

CREATE FUNCTION audit_log_seal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    head audit_head;
    sealed audit_log;
BEGIN
    SELECT * INTO STRICT head FROM audit_head FOR UPDATE;
    sealed := NEW;
    sealed.seq := head.seq + 1;
    sealed.hash := sha256(head.hash || convert_to(audit_row_text(sealed), 'UTF8'));
    UPDATE audit_log SET seq = sealed.seq, hash = sealed.hash WHERE id = NEW.id;
    UPDATE audit_head SET seq = sealed.seq, hash = sealed.hash;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_log_seal AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit_log_seal();

-- Append-only, but for the seal: a row not chained yet (its own transaction's) gets its seq and
-- hash, and nothing else changes.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND to_jsonb(NEW) - '{seq, hash}'::text[] = to_jsonb(OLD) - '{seq, hash}'::text[] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

-- The rows written before this migration, chained in id order.
INSERT INTO audit_head VALUES (true, 0, sha256(''::bytea));
DO $$
DECLARE
    r audit_log;
    head audit_head;
BEGIN
    SELECT * INTO head FROM audit_head;
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        r.seq := head.seq + 1;
        head.seq := r.seq;
        head.hash := sha256(head.hash || convert_to(audit_row_text(r), 'UTF8'));
        UPDATE audit_log SET seq = r.seq, hash = head.hash WHERE id = r.id;
    END LOOP;
    UPDATE audit_head SET seq = head.seq, hash = head.hash;
END $$;
