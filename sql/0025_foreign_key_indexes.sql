-- depends: 0024_change_log_more_ids
-- Every foreign key to activity and member gets an index on its referencing column. Without one,
-- each activity or member row that an undo or an erasure deletes (or a merge re-points) makes
-- PostgreSQL scan the referencing table whole to check it: deleting 1.35M activities of a 10M
-- community scanned moderation_case (34,000 rows) once per row and had not finished after 6 min.
CREATE INDEX moderation_case_activity ON moderation_case (activity_id) WHERE activity_id IS NOT NULL;
CREATE INDEX moderation_case_member ON moderation_case (member_id) WHERE member_id IS NOT NULL;
CREATE INDEX member_merged_into ON member (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX member_identity_original_member ON member_identity (original_member_id) WHERE original_member_id IS NOT NULL;
CREATE INDEX reward_member ON reward (member_id);
CREATE INDEX member_merge_into_member ON member_merge (into_member_id);
