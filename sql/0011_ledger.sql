-- depends: 0010_money
-- The ledger's rules (docs/database.md). They hold against the application role and against the
-- owner's own SQL; a superuser or the owner can switch a trigger off, and the audit chain
-- (sql/0012) then shows what changed.
--   * The rows of a money table (one with amount_minor) are never deleted, nor truncated.
--   * A reward moves one step at a time; a step changes its status and that step's actor and
--     time only; the database sets the times; whoever proposes, approves or pays it is an active
--     user of the app with the staff, manager or admin role.

CREATE FUNCTION ledger_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted (% refused): correct, cancel or deactivate them', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'check_violation';
END $$;

DROP TRIGGER reward_no_delete ON reward;
DROP FUNCTION reward_no_delete();
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['reward', 'reward_rule', 'reward_budget', 'revenue', 'campaign'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW EXECUTE FUNCTION ledger_keep()',
                       t || '_no_delete', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION ledger_keep()',
                       t || '_no_truncate', t);
    END LOOP;
END $$;

-- Raises unless `username` is an active user with the staff, manager or admin role.
CREATE FUNCTION reward_staff_only(username text, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM app_user u WHERE u.username = reward_staff_only.username AND u.active
                   AND u.role IN ('admin', 'manager', 'staff')) THEN
        RAISE EXCEPTION 'the % of a reward is an active staff, manager or admin user, which % is not', what, username
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION reward_transition_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    step text[];  -- what the step sets beside the status
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'proposed' THEN
            RAISE EXCEPTION 'a reward must be created as proposed, not %', NEW.status USING ERRCODE = 'check_violation';
        END IF;
        IF num_nonnulls(NEW.approved_by, NEW.approved_at, NEW.paid_by, NEW.paid_at, NEW.closed_at, NEW.payout_batch) > 0 THEN
            RAISE EXCEPTION 'a new reward is not approved, paid or closed yet' USING ERRCODE = 'check_violation';
        END IF;
        NEW.proposed_at := now();
        PERFORM reward_staff_only(NEW.proposed_by, 'proposer');
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'proposed' AND NEW.status IN ('approved', 'rejected', 'cancelled'))
            OR (OLD.status = 'approved' AND NEW.status IN ('paid', 'cancelled'))) THEN
        RAISE EXCEPTION 'a reward cannot go from % to %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
    END IF;
    CASE NEW.status
        WHEN 'approved' THEN
            NEW.approved_at := now();
            step := '{approved_by, approved_at}';
            PERFORM reward_staff_only(NEW.approved_by, 'approver');
        WHEN 'paid' THEN
            NEW.paid_at := now();
            step := '{paid_by, paid_at, payout_batch}';
            PERFORM reward_staff_only(NEW.paid_by, 'payer');
        ELSE
            NEW.closed_at := now();
            step := '{closed_at}';
    END CASE;
    -- (money_currency follows currency, and is NULL in NEW until this trigger has run)
    IF to_jsonb(NEW) - (step || '{status, money_currency}'::text[])
       IS DISTINCT FROM to_jsonb(OLD) - (step || '{status, money_currency}'::text[]) THEN
        RAISE EXCEPTION 'a reward going % changes its status and % only', NEW.status, array_to_string(step, ', ')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
