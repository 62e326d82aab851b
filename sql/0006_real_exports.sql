-- depends: 0008_change_log
-- Real platform exports (issue 22): bots and system accounts, anonymous votes per day, and import
-- runs that failed or left rows out.

-- An account that is not one person: a bot, a system account (Stack Exchange's Community,
-- Discourse's system), or the placeholder that stands for deleted users. Not counted as a member.
ALTER TABLE member ADD COLUMN is_bot boolean NOT NULL DEFAULT false;

-- Votes and reactions an activity received on a day from givers the source does not name (Stack
-- Exchange's up- and down-votes, Discourse's likes, Discord reactions whose users are not listed).
-- Up-votes count as reactions received by the activity's author; down-votes are kept apart.
CREATE TABLE activity_vote (
    activity_id  bigint NOT NULL REFERENCES activity,
    day          date NOT NULL,
    up           integer NOT NULL DEFAULT 0 CHECK (up >= 0),
    down         integer NOT NULL DEFAULT 0 CHECK (down >= 0),
    PRIMARY KEY (activity_id, day)
);
INSERT INTO activity_vote (activity_id, day, up)
    SELECT id, (created_at AT TIME ZONE 'UTC')::date, anonymous_reactions FROM activity
    WHERE anonymous_reactions > 0;
ALTER TABLE activity DROP COLUMN anonymous_reactions;
SELECT track_changes('activity_vote');

-- A run that ended in an unexpected error is 'failed' (its traceback is in the log); `notes` counts
-- the rows an import left out or shortened, by reason.
ALTER TABLE import_run DROP CONSTRAINT import_run_status_check;
ALTER TABLE import_run DROP CONSTRAINT import_run_check;
ALTER TABLE import_run ADD CHECK (status IN ('loaded', 'rejected', 'failed'));
ALTER TABLE import_run ADD CHECK ((status = 'loaded') = (error IS NULL));
ALTER TABLE import_run ADD COLUMN notes jsonb NOT NULL DEFAULT '{}';
