-- depends: 0001_schema
-- The address of a post on its platform, so a page can link to it (e.g. the unanswered backlog).
ALTER TABLE activity ADD COLUMN url text CHECK (url ~ '^https?://');
