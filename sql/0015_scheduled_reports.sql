-- depends: 0007_mention_models
-- Scheduled reports (docs/alerts.md): the weekly digest to managers, the daily "awaiting your
-- approval" note to staff, the monthly report to each sponsor's contact. Each recipient (a
-- username, or 'sponsor:<id>' for a sponsor's contact) may opt out of each type; no row: subscribed.
CREATE TABLE report_pref (
    recipient   text NOT NULL CHECK (recipient ~ '^([a-z0-9][a-z0-9_.-]{2,39}|sponsor:[0-9]+)$'),
    report      text NOT NULL CHECK (report IN ('weekly_digest', 'approvals', 'sponsor_monthly')),
    subscribed  boolean NOT NULL,
    PRIMARY KEY (recipient, report)
);
