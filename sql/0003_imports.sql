-- depends: 0002_activity_url
-- Imports (issue 3): a history of every import run, and identity merges that can be undone.

-- One row per import run, kept whether it loaded or was rejected (then nothing else changed).
CREATE TABLE import_run (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    source       text NOT NULL,
    files        text[] NOT NULL,
    status       text NOT NULL CHECK (status IN ('loaded', 'rejected')),
    counts       jsonb NOT NULL DEFAULT '{}',
    error        text,
    rows_per_s   real,
    CHECK ((status = 'rejected') = (error IS NOT NULL))
);
CREATE INDEX import_run_at ON import_run (at);

-- A member merged into another is kept (so the merge can be undone) but no longer counted.
ALTER TABLE member ADD COLUMN merged_into bigint REFERENCES member;

-- identities: the accounts that moved to into_member_id; attendance: the merged member's event
-- registrations as they were (clash: into_member was registered too, so the row was dropped).
CREATE TABLE member_merge (
    id              bigserial PRIMARY KEY,
    member_id       bigint NOT NULL REFERENCES member,
    into_member_id  bigint NOT NULL REFERENCES member,
    merged_by       text NOT NULL,
    merged_at       timestamptz NOT NULL DEFAULT now(),
    identities      jsonb NOT NULL,
    attendance      jsonb NOT NULL DEFAULT '[]',
    undone_by       text,
    undone_at       timestamptz,
    CHECK (member_id <> into_member_id),
    CHECK ((undone_by IS NULL) = (undone_at IS NULL))
);
CREATE UNIQUE INDEX member_merge_active ON member_merge (member_id) WHERE undone_at IS NULL;

CREATE TRIGGER member_merge_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON member_merge
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
