-- depends: 0015_scheduled_reports
-- The interface language each user chose (NULL: not chosen yet, the browser's is used).
ALTER TABLE app_user ADD COLUMN lang text CHECK (lang IN ('fr', 'en'));
