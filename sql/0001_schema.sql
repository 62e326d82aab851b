-- The canonical data model (DESIGN.md section 3): every source is imported into these tables.
-- Times are timestamptz in UTC; money is integer minor units with an ISO currency code.

-- ---------------------------------------------------------------- platforms and members
CREATE TABLE platform (
    id      smallserial PRIMARY KEY,
    slug    text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name    text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    kind    text NOT NULL CHECK (kind IN ('discord', 'discourse', 'reddit', 'x', 'youtube',
                                           'stackexchange', 'meetup', 'other'))
);

CREATE TABLE member (
    id            bigserial PRIMARY KEY,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    joined_at     timestamptz NOT NULL,
    is_staff      boolean NOT NULL DEFAULT false
);
CREATE INDEX member_joined_at ON member (joined_at);

-- One person, several platform accounts. member_id is who the account belongs to now (staff can
-- merge); original_member_id is the member the import created, so a merge can be undone.
CREATE TABLE member_identity (
    platform_id         smallint NOT NULL REFERENCES platform,
    external_id         text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    handle              text NOT NULL,
    member_id           bigint NOT NULL REFERENCES member,
    original_member_id  bigint NOT NULL REFERENCES member,
    joined_at           timestamptz NOT NULL,
    PRIMARY KEY (platform_id, external_id)
);
CREATE INDEX member_identity_member ON member_identity (member_id);

-- ---------------------------------------------------------------- activity
-- A reaction keeps the activity it reacts to in parent_id; every non-thread keeps its thread.
-- anonymous_reactions counts reactions whose authors the source does not name (e.g. Stack
-- Exchange up-votes), so no fake members are made for them.
CREATE TABLE activity (
    id                   bigserial PRIMARY KEY,
    platform_id          smallint NOT NULL REFERENCES platform,
    external_id          text NOT NULL,
    member_id            bigint NOT NULL REFERENCES member,
    kind                 text NOT NULL CHECK (kind IN ('thread', 'reply', 'comment', 'answer', 'reaction')),
    parent_id            bigint REFERENCES activity,
    thread_id            bigint REFERENCES activity,
    created_at           timestamptz NOT NULL,
    title                text,
    body                 text,
    tags                 text[] NOT NULL DEFAULT '{}',
    is_question          boolean NOT NULL DEFAULT false,
    accepted             boolean NOT NULL DEFAULT false,
    anonymous_reactions  integer NOT NULL DEFAULT 0 CHECK (anonymous_reactions >= 0),
    lang                 text CHECK (lang ~ '^[a-z]{2,3}$'),
    sentiment            real CHECK (sentiment BETWEEN -1 AND 1),
    UNIQUE (platform_id, external_id),
    CHECK ((kind = 'thread') = (parent_id IS NULL)),
    CHECK ((kind = 'thread') = (thread_id IS NULL)),
    CHECK (kind = 'thread' OR NOT is_question),
    CHECK (kind = 'answer' OR NOT accepted)
);
CREATE INDEX activity_created_at ON activity (created_at);
CREATE INDEX activity_member_created ON activity (member_id, created_at);
CREATE INDEX activity_thread ON activity (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX activity_parent ON activity (parent_id) WHERE parent_id IS NOT NULL;

-- ---------------------------------------------------------------- moderation
CREATE TABLE rule (
    id     smallserial PRIMARY KEY,
    code   text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    title  text NOT NULL
);

CREATE TABLE moderation_case (
    id               bigserial PRIMARY KEY,
    platform_id      smallint NOT NULL REFERENCES platform,
    external_id      text NOT NULL,
    activity_id      bigint REFERENCES activity,
    member_id        bigint NOT NULL REFERENCES member,
    rule_id          smallint NOT NULL REFERENCES rule,
    reported_at      timestamptz NOT NULL,
    first_action_at  timestamptz CHECK (first_action_at >= reported_at),
    resolved_at      timestamptz CHECK (resolved_at >= reported_at),
    outcome          text CHECK (outcome IN ('upheld', 'dismissed')),
    UNIQUE (platform_id, external_id),
    CHECK ((resolved_at IS NULL) = (outcome IS NULL)),
    CHECK (resolved_at IS NULL OR first_action_at IS NOT NULL)
);
CREATE INDEX moderation_case_reported ON moderation_case (reported_at);
CREATE INDEX moderation_case_open ON moderation_case (reported_at) WHERE resolved_at IS NULL;

-- ---------------------------------------------------------------- events
CREATE TABLE event (
    id           bigserial PRIMARY KEY,
    external_id  text UNIQUE,
    platform_id  smallint REFERENCES platform,
    title        text NOT NULL,
    format       text NOT NULL CHECK (format IN ('in_person', 'online')),
    starts_at    timestamptz NOT NULL,
    location     text
);
CREATE INDEX event_starts_at ON event (starts_at);

CREATE TABLE event_attendance (
    event_id       bigint NOT NULL REFERENCES event ON DELETE CASCADE,
    member_id      bigint NOT NULL REFERENCES member,
    registered_at  timestamptz NOT NULL,
    attended       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (event_id, member_id)
);
CREATE INDEX event_attendance_member ON event_attendance (member_id);

-- ---------------------------------------------------------------- outside mentions
-- sentiment is the label scored once at import: -1 negative, 0 neutral, 1 positive.
CREATE TABLE mention (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    url         text NOT NULL UNIQUE,
    author      text,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL,
    reach       bigint NOT NULL DEFAULT 0 CHECK (reach >= 0),
    lang        text CHECK (lang ~ '^[a-z]{2,3}$'),
    sentiment   smallint NOT NULL CHECK (sentiment IN (-1, 0, 1))
);
CREATE INDEX mention_created_at ON mention (created_at);

-- ---------------------------------------------------------------- money
CREATE DOMAIN currency_code AS text CHECK (VALUE ~ '^[A-Z]{3}$');

CREATE TABLE sponsor (
    id             serial PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    contact_email  text
);

-- deliverables: [{"kind": "post", "label": "...", "target": 4, "delivered": 2}, ...]
CREATE TABLE campaign (
    id            serial PRIMARY KEY,
    sponsor_id    integer NOT NULL REFERENCES sponsor,
    name          text NOT NULL,
    starts_on     date NOT NULL,
    ends_on       date NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    currency      currency_code NOT NULL,
    deliverables  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(deliverables) = 'array'),
    UNIQUE (sponsor_id, name),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX campaign_sponsor ON campaign (sponsor_id);

CREATE TABLE campaign_delivery (
    campaign_id  integer NOT NULL REFERENCES campaign ON DELETE CASCADE,
    day          date NOT NULL,
    impressions  bigint NOT NULL CHECK (impressions >= 0),
    clicks       bigint NOT NULL CHECK (clicks >= 0 AND clicks <= impressions),
    engagements  bigint NOT NULL CHECK (engagements >= 0),
    PRIMARY KEY (campaign_id, day)
);

-- recurring marks a monthly membership line (the basis of MRR).
CREATE TABLE revenue (
    id            bigserial PRIMARY KEY,
    external_id   text UNIQUE,
    stream        text NOT NULL CHECK (stream IN ('ads', 'sponsorship', 'membership', 'donation',
                                                  'merch', 'other')),
    sponsor_id    integer REFERENCES sponsor,
    campaign_id   integer REFERENCES campaign,
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    currency      currency_code NOT NULL,
    booked_on     date NOT NULL,
    received_on   date,
    recurring     boolean NOT NULL DEFAULT false,
    description   text,
    CHECK (campaign_id IS NULL OR sponsor_id IS NOT NULL),
    CHECK (NOT recurring OR stream = 'membership')
);
CREATE INDEX revenue_booked_on ON revenue (booked_on);
CREATE INDEX revenue_sponsor ON revenue (sponsor_id) WHERE sponsor_id IS NOT NULL;

-- ---------------------------------------------------------------- users of the app
CREATE TABLE app_user (
    username       text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{2,39}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
    email          text,
    password_hash  text NOT NULL CHECK (password_hash ~ '^\$2[aby]\$\d\d\$.{53}$'),
    role           text NOT NULL CHECK (role IN ('admin', 'manager', 'staff', 'sponsor')),
    sponsor_id     integer REFERENCES sponsor,
    failed_logins  integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until   timestamptz,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'sponsor') = (sponsor_id IS NOT NULL))
);

-- ---------------------------------------------------------------- rewards
CREATE TABLE reward_rule (
    id            serial PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    title         text NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('top_n', 'accepted_answer', 'events_attended')),
    params        jsonb NOT NULL DEFAULT '{}',
    reward_kind   text NOT NULL CHECK (reward_kind IN ('points', 'money', 'gift', 'badge')),
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    currency      currency_code NOT NULL,
    active        boolean NOT NULL DEFAULT true
);

CREATE TABLE reward_budget (
    period        text NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    currency      currency_code NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (period, currency)
);

CREATE TABLE reward (
    id               bigserial PRIMARY KEY,
    member_id        bigint NOT NULL REFERENCES member,
    rule_id          integer REFERENCES reward_rule,
    period           text NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    reward_kind      text NOT NULL CHECK (reward_kind IN ('points', 'money', 'gift', 'badge')),
    amount_minor     bigint NOT NULL CHECK (amount_minor >= 0),
    currency         currency_code NOT NULL,
    reason           text NOT NULL,
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'approved', 'paid', 'rejected', 'cancelled')),
    proposed_by      text NOT NULL REFERENCES app_user,
    approved_by      text REFERENCES app_user,
    paid_by          text REFERENCES app_user,
    proposed_at      timestamptz NOT NULL DEFAULT now(),
    approved_at      timestamptz,
    paid_at          timestamptz,
    closed_at        timestamptz,
    payout_batch     text,
    idempotency_key  text NOT NULL UNIQUE,
    CHECK (approved_by IS DISTINCT FROM proposed_by),
    CHECK ((status IN ('approved', 'paid')) <= (approved_by IS NOT NULL AND approved_at IS NOT NULL)),
    CHECK ((status = 'paid') = (paid_by IS NOT NULL AND paid_at IS NOT NULL AND payout_batch IS NOT NULL))
);
CREATE INDEX reward_period_status ON reward (period, status);

-- A reward is born proposed and moves one step at a time; terminal states never change.
CREATE FUNCTION reward_transition_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'proposed' THEN
            RAISE EXCEPTION 'a reward must be created as proposed, not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'proposed' AND NEW.status IN ('approved', 'rejected', 'cancelled'))
            OR (OLD.status = 'approved' AND NEW.status IN ('paid', 'cancelled'))) THEN
        RAISE EXCEPTION 'a reward cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.member_id, NEW.amount_minor, NEW.currency, NEW.period, NEW.proposed_by, NEW.idempotency_key)
       IS DISTINCT FROM
       (OLD.member_id, OLD.amount_minor, OLD.currency, OLD.period, OLD.proposed_by, OLD.idempotency_key) THEN
        RAISE EXCEPTION 'a reward''s member, amount, period and proposer are fixed once proposed'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reward_transition BEFORE INSERT OR UPDATE ON reward
    FOR EACH ROW EXECUTE FUNCTION reward_transition_guard();
CREATE FUNCTION reward_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rewards are never deleted: cancel or reject them' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER reward_no_delete BEFORE DELETE ON reward
    FOR EACH ROW EXECUTE FUNCTION reward_no_delete();

-- ---------------------------------------------------------------- audit log (append-only)
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_id  text,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- ---------------------------------------------------------------- settings and data version
-- Settings managers change in the app (time zone, SLA thresholds, score weights...).
CREATE TABLE app_setting (
    key    text PRIMARY KEY,
    value  jsonb NOT NULL
);

-- One counter bumped by every statement that writes community data, in the writer's own
-- transaction: caches keyed by it are never stale and never refreshed for nothing.
CREATE TABLE data_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL
);
INSERT INTO data_version VALUES (true, 1);

CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE data_version SET version = version + 1;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['platform', 'member', 'member_identity', 'activity', 'rule',
        'moderation_case', 'event', 'event_attendance', 'mention', 'sponsor', 'campaign',
        'campaign_delivery', 'revenue', 'reward_rule', 'reward_budget', 'reward', 'app_setting']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()',
                       t || '_bump_version', t);
    END LOOP;
END $$;
