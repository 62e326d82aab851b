-- depends: 0014_worker_alerts
-- Mentions scored by maintained models (issue 30): a mention in a language without a sentiment
-- model is left unscored (NULL), not called neutral; `scored_by` names the models and versions
-- that scored its language and sentiment (NULL: the file gave them), so that `rescore` knows
-- what a model change leaves behind; the exporting tool's own sentiment and language are kept
-- beside ours.
ALTER TABLE mention ALTER COLUMN sentiment DROP NOT NULL;
ALTER TABLE mention ADD COLUMN scored_by text CHECK (length(scored_by) <= 200);
ALTER TABLE mention ADD COLUMN tool_sentiment smallint CHECK (tool_sentiment IN (-1, 0, 1));
ALTER TABLE mention ADD COLUMN tool_lang text CHECK (tool_lang ~ '^[a-z]{2,3}$');
