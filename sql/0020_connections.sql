-- depends: 0019_user_language
-- Connections (docs/connections.md): each platform's API synced by the worker from a cursor,
-- through the importer. Secrets (tokens, keys) are a Fernet token under CM_CONNECTION_KEY; a
-- removed connection keeps its row (its history) and loses its secrets.
CREATE TABLE connection (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('discourse', 'stackexchange', 'discord', 'feed', 'reddit')),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    platform         text CHECK (platform ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),  -- NULL: mentions (feeds)
    settings         jsonb NOT NULL DEFAULT '{}',  -- what is not secret: the address, site, channels…
    secret           bytea,
    every_minutes    integer NOT NULL DEFAULT 60 CHECK (every_minutes BETWEEN 5 AND 10080),
    paused           boolean NOT NULL DEFAULT false,
    cursor           jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'ok', 'failing', 'revoked')),
    requested_at     timestamptz,  -- "sync now": the worker's next minute runs it
    last_attempt_at  timestamptz,
    last_success_at  timestamptz,
    last_rows        integer,  -- rows inserted or updated by the last successful sync
    last_import      bigint REFERENCES import_run,
    last_error       text,
    failing_since    timestamptz,  -- the first failure of the current streak: one alert per streak
    retry_after      timestamptz,  -- the platform asked to wait (429, Stack Exchange's backoff)
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    removed_at       timestamptz,
    CHECK ((kind = 'feed') = (platform IS NULL)),
    CHECK (removed_at IS NULL OR secret IS NULL),
    CHECK ((state IN ('failing', 'revoked')) = (failing_since IS NOT NULL))
);
CREATE UNIQUE INDEX connection_name ON connection (lower(name)) WHERE removed_at IS NULL;

ALTER TABLE alert_rule DROP CONSTRAINT alert_rule_kind_check;
ALTER TABLE alert_rule ADD CONSTRAINT alert_rule_kind_check CHECK (kind IN (
    'crisis', 'unanswered', 'moderation', 'member_slipping', 'budget', 'campaign_pace', 'platform_stale',
    'import_failed', 'connection_failing'));
