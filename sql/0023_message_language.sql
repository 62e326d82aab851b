-- depends: 0022_mention_other_language
-- A user's e-mails are written in the language of their interface (app_user.lang, kept when they
-- choose it in the sidebar): the language kept for messages alone moves into it where the user had
-- not chosen one, then goes.
UPDATE app_user u SET lang = p.lang FROM notify_pref p WHERE p.username = u.username AND u.lang IS NULL;
DROP TABLE notify_pref;
