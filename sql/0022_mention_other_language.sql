-- depends: 0019_user_language
-- The community's languages are a setting (French and English by default): a mention in another
-- language is "other", and `scored_by` names the languages the models chose among (they may be
-- many), so that `rescore` finds what a change of the setting leaves behind.
ALTER TABLE mention DROP CONSTRAINT mention_lang_check,
    ADD CONSTRAINT mention_lang_check CHECK (lang ~ '^[a-z]{2,3}$' OR lang = 'other');
ALTER TABLE mention DROP CONSTRAINT mention_scored_by_check,
    ADD CONSTRAINT mention_scored_by_check CHECK (length(scored_by) <= 1000);
