-- depends: 0012_audit_chain
-- Sessions the server can revoke, and the sign-in rate. None of these tables is in the change
-- log: signing in never makes a report read its data again.

-- Every signed cookie carries its user's generation; bumping it (a password change or reset, a
-- deactivation, a role change, "sign out everywhere") ends every session at once.
ALTER TABLE app_user ADD COLUMN session_generation integer NOT NULL DEFAULT 1 CHECK (session_generation > 0);
-- An administrator's password (a new user's, a reset) is changed by its owner at the next sign-in.
ALTER TABLE app_user ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- One row per sign-in. The cookie carries the session's random id; the table keeps its SHA-256
-- only, so a read of this table gives nothing to sign in with.
CREATE TABLE app_session (
    id          bytea PRIMARY KEY CHECK (length(id) = 32),
    username    text NOT NULL REFERENCES app_user ON DELETE CASCADE,
    generation  integer NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    CHECK (expires_at > started_at)
);
CREATE INDEX app_session_user ON app_session (username, expires_at) WHERE ended_at IS NULL;

-- Every sign-in attempt, for the per-username and global rate limits. `who` is an HMAC of the
-- typed username (keyed by the cookie key): what was typed is never stored (it may be a password
-- typed in the wrong field), unknown usernames are limited exactly like real ones.
CREATE TABLE login_attempt (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    who        bytea NOT NULL,
    succeeded  boolean NOT NULL
);
CREATE INDEX login_attempt_who ON login_attempt (who, at);
CREATE INDEX login_attempt_at ON login_attempt (at);

-- The app ends old sessions' rows and forgets old attempts (docs/database.md: DELETE table by table).
GRANT DELETE ON app_session, login_attempt TO cm_app;
