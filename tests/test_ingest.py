"""Imports: every format's fixture gives the rows a person would write by hand; bad files are
rejected with the exact message and change nothing; re-imports change nothing; merges undo."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from cmcore import db, frames, identities, ingest
from cmcore.access import CLI, AccessDenied, Principal
from cmcore.ingest import canonical, discourse, stackexchange
from cmcore.ingest.canonical import Rejected
from tests.builders import utc

FIXTURES = Path(__file__).parent / "fixtures"
ALL_TABLES = ("platform", "member", "member_identity", "activity", "rule", "moderation_case", "event",
              "event_attendance", "mention", "sponsor", "campaign", "campaign_delivery", "revenue")


def rows(sql: str, **params) -> list[tuple]:
    with db.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def table_sizes() -> dict[str, int]:
    return {t: rows(f"SELECT count(*) FROM {t}")[0][0] for t in ALL_TABLES}


def indexes_and_keys(table: str) -> list[tuple]:
    return rows("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
                " UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE tablename = CAST(:t AS text) ORDER BY 1, 2",
                t=table)


def fixture(source: str) -> list[Path]:
    return sorted((FIXTURES / source).iterdir())


def activities(platform: str) -> list[tuple]:
    """(external id, author's display name, kind, parent's external id, thread's external id,
    is_question, accepted, anonymous reactions received) in id order."""
    return rows(
        "SELECT a.external_id, m.display_name, a.kind, p.external_id, t.external_id, a.is_question, a.accepted,"
        " (SELECT coalesce(sum(v.up), 0)::int FROM activity_vote v WHERE v.activity_id = a.id)"
        " FROM activity a JOIN member m ON m.id = a.member_id"
        " JOIN platform f ON f.id = a.platform_id LEFT JOIN activity p ON p.id = a.parent_id"
        " LEFT JOIN activity t ON t.id = a.thread_id WHERE f.slug = :slug ORDER BY a.created_at, a.id", slug=platform)


def members(platform: str) -> list[tuple]:
    return rows("SELECT i.external_id, i.handle, m.display_name, m.joined_at FROM member_identity i"
                " JOIN member m ON m.id = i.member_id JOIN platform p ON p.id = i.platform_id"
                " WHERE p.slug = :slug ORDER BY i.external_id", slug=platform)


def counts(inserted: int = 0, updated: int = 0, skipped: int = 0) -> dict[str, int]:
    return {"inserted": inserted, "updated": updated, "skipped": skipped}


# ---------------------------------------------------------------- each format's fixture
def test_canonical_fixture_loads_every_table_and_a_second_import_changes_nothing(database):
    schema = indexes_and_keys("activity")
    result = ingest.run("canonical", fixture("canonical"), CLI)
    assert indexes_and_keys("activity") == schema  # built again after a first batch larger than the table
    assert result.counts == {
        "platforms": counts(2), "members": counts(4), "identities": counts(1), "activities": counts(5),
        "votes": counts(1),  # m1's 3 anonymous reactions, on its day
        "moderation_cases": counts(2), "events": counts(2), "attendance": counts(4), "mentions": counts(3),
        "sponsors": counts(1), "campaigns": counts(1), "delivery": counts(2), "revenue": counts(3)}
    assert activities("forum") == [
        ("t1", "Bob Leroy", "thread", None, None, True, False, 0),
        ("p1", "Ann Martin", "answer", "t1", "t1", False, True, 0),
        ("p2", "Chloé Dubois", "comment", "p1", "t1", False, False, 0),  # thread found through its parent
        ("r1", "Bob Leroy", "reaction", "p1", "t1", False, False, 0)]
    assert activities("chat") == [("m1", "Bob Leroy", "thread", None, None, False, False, 3)]  # d2 is Bob
    assert rows("SELECT tags, url FROM activity WHERE external_id = 't1'") == [
        (["account", "help"], "https://forum.example.org/t/1")]
    assert members("forum") == [
        ("u1", "ann", "Ann Martin", utc(2026, 1, 5, 9)),
        ("u2", "bob", "Bob Leroy", utc(2026, 1, 10, 14, 30)),  # no zone: UTC
        ("u3", "chloe", "Chloé Dubois", utc(2026, 2, 1, 7))]  # +01:00
    assert rows("SELECT display_name, is_staff FROM member ORDER BY id") == [
        ("Ann Martin", True), ("Bob Leroy", False), ("Chloé Dubois", False), ("Ann M.", False)]
    assert rows("SELECT c.external_id, r.code, r.title, a.external_id, c.outcome FROM moderation_case c"
                " JOIN rule r ON r.id = c.rule_id LEFT JOIN activity a ON a.id = c.activity_id ORDER BY 1") == [
        ("f1", "spam", "No spam", "p2", "upheld"), ("f2", "off-topic", "off-topic", None, None)]
    assert rows("SELECT e.external_id, e.starts_at, m.display_name, a.attended FROM event_attendance a"
                " JOIN event e ON e.id = a.event_id JOIN member m ON m.id = a.member_id ORDER BY 1, 3") == [
        ("ev1", utc(2026, 3, 10, 18), "Ann M.", False), ("ev1", utc(2026, 3, 10, 18), "Ann Martin", True),
        ("ev1", utc(2026, 3, 10, 18), "Bob Leroy", False),
        ("ev2", utc(2026, 4, 2, 16, 30), "Chloé Dubois", False)]
    assert rows("SELECT source, lang, sentiment, reach FROM mention ORDER BY created_at") == [
        ("x", "fr", 1, 1200), ("reddit", "en", -1, 300), ("news", "en", 0, 0)]
    assert rows("SELECT c.name, c.amount_minor, c.currency, c.deliverables->0->>'label', sum(d.clicks)"
                " FROM campaign c JOIN campaign_delivery d ON d.campaign_id = c.id GROUP BY c.id") == [
        ("Spring launch", 250000, "EUR", "Launch post", 95)]
    assert rows("SELECT external_id, stream, sponsor_id IS NOT NULL, amount_minor, recurring FROM revenue"
                " ORDER BY 1") == [("don-1", "donation", False, 2000, False), ("inv-1", "sponsorship", True, 250000, False),
                                   ("mem-1", "membership", False, 500, True)]
    before = table_sizes()
    again = ingest.run("canonical", fixture("canonical"), CLI)
    assert all(c == counts(skipped=c["skipped"]) for c in again.counts.values())
    assert sum(c["skipped"] for c in again.counts.values()) == result.rows == 31
    assert table_sizes() == before


def test_a_changed_row_is_updated_and_the_rest_skipped(database, tmp_path):
    ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv"], CLI)
    changed = tmp_path / "members.csv"
    changed.write_text((FIXTURES / "canonical/members.csv").read_text().replace("Bob Leroy", "Bob L."))
    result = ingest.run("canonical", [changed], CLI)
    assert result.counts == {"members": counts(updated=1, skipped=3)}
    assert rows("SELECT display_name FROM member WHERE id = 2") == [("Bob L.",)]
    assert ingest.history(CLI)["counts"].to_list() == ["members +0 ~1 =3", "members +4 ~0 =0, platforms +2 ~0 =0"]


def test_parquet_and_jsonl_load_like_csv(database, tmp_path):
    pl.read_csv(FIXTURES / "canonical/platforms.csv").write_parquet(tmp_path / "platforms.parquet")
    members = pl.read_csv(FIXTURES / "canonical/members.csv", try_parse_dates=False)
    members.write_ndjson(tmp_path / "members.jsonl")
    result = ingest.run("canonical", [tmp_path / "platforms.parquet", tmp_path / "members.jsonl"], CLI)
    assert result.counts == {"platforms": counts(2), "members": counts(4)}
    assert members_of_forum() == members_csv_expected()


def members_of_forum() -> list[tuple]:
    return members("forum")


def members_csv_expected() -> list[tuple]:
    return [("u1", "ann", "Ann Martin", utc(2026, 1, 5, 9)), ("u2", "bob", "Bob Leroy", utc(2026, 1, 10, 14, 30)),
            ("u3", "chloe", "Chloé Dubois", utc(2026, 2, 1, 7))]


SE_NOTES = {  # what the hand-made dump leaves out, counted by hand from its files
    stackexchange.NOT_TALK: 6,  # posts 14-19: tag wiki excerpt and body, orphaned tag wiki, nomination, wikis
    stackexchange.ORPHAN_ANSWERS: 1,  # post 20 answers question 99, not in the dump
    stackexchange.LEFT_COMMENTS: 8,  # comments 102-107 and 109 on those posts, 111 on post 999
    stackexchange.LEFT_VOTES: 7,  # votes 9-15
    stackexchange.OTHER_VOTES: 3,  # an accept, a bookmark, a bounty
    stackexchange.UNREAD_FILES: 1,  # Badges.xml
}


def votes(platform: str) -> list[tuple]:
    return rows("SELECT a.external_id, v.day::text, v.up, v.down FROM activity_vote v JOIN activity a"
                " ON a.id = v.activity_id JOIN platform p ON p.id = a.platform_id WHERE p.slug = :slug ORDER BY 1, 2",
                slug=platform)


def test_stack_exchange_dump(database):
    result = ingest.run("stackexchange", fixture("stackexchange"), CLI)
    assert result.counts == {"members": counts(6), "activities": counts(10), "votes": counts(7)}
    assert result.notes == SE_NOTES
    assert activities("stackexchange") == [
        ("10", "Bruno", "thread", None, None, True, False, 2),  # two up-votes, no voter made up
        ("c101", "Amélie", "comment", "10", "10", False, False, 0),
        ("11", "Chen", "answer", "10", "10", False, False, 0),  # a down-vote is not a reaction
        ("12", "Amélie", "answer", "10", "10", False, True, 3),  # AcceptedAnswerId; the accept vote is not an up-vote
        ("c100", "Bruno", "comment", "12", "10", False, False, 0),
        ("c110", "Dana", "comment", "11", "10", False, False, 0),
        ("13", "(deleted user)", "thread", None, None, True, False, 1),  # no OwnerUserId
        ("c108", "(deleted user)", "comment", "13", "13", False, False, 0),  # no UserId
        ("21", "Community", "thread", None, None, True, False, 0),
        ("22", "Dana", "answer", "13", "13", False, False, 1)]
    assert votes("stackexchange") == [("10", "2025-04-01", 1, 0), ("10", "2025-04-02", 1, 0), ("11", "2025-04-01", 0, 1),
                                      ("12", "2025-04-01", 2, 0), ("12", "2025-04-03", 1, 0), ("13", "2025-04-02", 1, 0),
                                      ("22", "2025-04-06", 1, 0)]
    assert rows("SELECT title, tags FROM activity WHERE external_id IN ('10', '13') ORDER BY 1") == [
        ("Configurer le proxy", ["proxy", "config"]), ("Old question from a deleted user", ["meta"])]
    assert members("stackexchange") == [
        ("-1", "Community", "Community", utc(2025, 1, 1)), ("1", "Amélie", "Amélie", utc(2025, 1, 2, 9, 15, 0, 250000)),
        ("2", "Bruno", "Bruno", utc(2025, 2, 3, 10)), ("3", "Chen", "Chen", utc(2025, 3, 4, 11)),
        ("4", "Dana", "Dana", utc(2025, 4, 2, 8)), ("deleted", "(deleted user)", "(deleted user)", utc(2025, 4, 2, 12))]
    assert rows("SELECT display_name FROM member WHERE is_bot ORDER BY 1") == [("(deleted user)",), ("Community",)]
    assert rows("SELECT notes FROM import_run") == [(SE_NOTES,)]
    again = ingest.run("stackexchange", fixture("stackexchange"), CLI)
    assert again.counts == {"members": counts(skipped=6), "activities": counts(skipped=10), "votes": counts(skipped=7)}


def test_a_stack_exchange_site_without_votes_counts_each_posts_score(database):
    files = [p for p in fixture("stackexchange") if p.name in ("Users.xml", "Posts.xml", "Comments.xml")]
    result = ingest.run("stackexchange", files, CLI)
    assert result.notes == {k: v for k, v in SE_NOTES.items() if k in (
        stackexchange.NOT_TALK, stackexchange.ORPHAN_ANSWERS, stackexchange.LEFT_COMMENTS)} | {stackexchange.SCORES: 5}
    assert votes("stackexchange") == [("10", "2025-04-01", 2, 0), ("11", "2025-04-01", 0, 1), ("12", "2025-04-01", 3, 0),
                                      ("13", "2025-04-02", 1, 0), ("22", "2025-04-05", 1, 0)]


def test_stack_exchange_dump_inside_a_7z_archive(database, tmp_path):
    import py7zr
    archive = tmp_path / "example.stackexchange.com.7z"
    with py7zr.SevenZipFile(archive, "w") as out:
        for path in fixture("stackexchange"):
            out.write(path, path.name)
    result = ingest.run("stackexchange", [archive], CLI, platform="example-se")
    assert result.counts == {"members": counts(6), "activities": counts(10), "votes": counts(7)}
    assert result.notes == SE_NOTES
    assert rows("SELECT slug, kind FROM platform") == [("example-se", "stackexchange")]


def test_discourse_api_pages(database):
    """Every file of a Discourse admin's API export: topic list, topic pages (one a private
    message), /posts.json, directory items, the admin users list, categories, and two tag files."""
    result = ingest.run("discourse", fixture("discourse"), CLI)
    assert result.counts == {"members": counts(8), "activities": counts(8), "votes": counts(3)}
    assert result.notes == {
        "small actions: pinned, closed… (post type 3)": 1, "whispers (post type 4)": 1,
        "moderator actions (post type 2)": 1,  # 504, 505, 506 in t-50.json
        discourse.REPEATED: 1,  # 503, in t-50.json and posts.json
        discourse.PRIVATE: 2,  # t-60.json
        discourse.NO_TOPIC: 1,  # 531: topic 53 is in no file
        discourse.UNDATED: 1,  # lurker: in the directory only, no date, no post
        discourse.IGNORED: 2}  # tags.json, tag-names.json
    assert activities("discourse") == [
        ("topic-50", "Léa Roux", "thread", None, None, True, False, 2),  # solved: a question; 2 likes
        ("502", "Marc Petit", "answer", "topic-50", "topic-50", False, True, 3),
        ("503", "Léa Roux", "reply", "502", "topic-50", False, False, 0),  # reply_to_post_number 2
        ("topic-51", "system", "thread", None, None, False, False, 0),
        ("512", "sam", "reply", "topic-51", "topic-51", False, False, 1),
        ("513", "(deleted user)", "reply", "512", "topic-51", False, False, 0),  # no user: the placeholder; no raw
        ("topic-52", "Zoé", "thread", None, None, False, False, 0),  # from the topic list: its first post is in no file
        ("521", "Léa Roux", "reply", "topic-52", "topic-52", False, False, 0)]
    assert rows("SELECT external_id, title, tags FROM activity WHERE kind = 'thread' ORDER BY 1") == [
        ("topic-50", "Export bloqué ?", ["export", "Support"]), ("topic-51", "Welcome to the forum", ["meta", "General"]),
        ("topic-52", "Release notes", ["General"])]  # the category's name from categories.json
    assert rows("SELECT i.external_id, i.handle, m.display_name, m.joined_at, m.is_staff, m.is_bot FROM member_identity i"
                " JOIN member m ON m.id = i.member_id ORDER BY m.joined_at") == [
        ("-2", "discobot", "discobot", utc(2025, 1, 1), False, True),
        ("12", "quiet", "Quiet Reader", utc(2025, 1, 15, 10), False, False),  # listed, never posted
        ("8", "marc", "Marc Petit", utc(2025, 3, 1, 8), True, False),  # a moderator
        ("7", "lea", "Léa Roux", utc(2025, 4, 20, 8), False, False),
        ("9", "sam", "sam", utc(2025, 5, 2, 13), False, False),  # user_created_at of its post
        ("-1", "system", "system", utc(2025, 5, 2, 14), True, True),  # at its first post kept
        ("deleted", "(deleted user)", "(deleted user)", utc(2025, 5, 2, 16), False, True),
        ("10", "zoe", "Zoé", utc(2025, 5, 3, 8), False, False)]  # its topic's creation
    assert rows("SELECT body FROM activity WHERE external_id = '513'") == [("<p>Hello from a deleted account</p>",)]
    again = ingest.run("discourse", fixture("discourse"), CLI)
    assert again.counts == {"members": counts(skipped=8), "activities": counts(skipped=8), "votes": counts(skipped=3)}


def test_discourse_data_explorer_csv(database, tmp_path):
    csv = tmp_path / "posts.csv"
    csv.write_text("post_id,topic_id,post_number,user_id,username,created_at,topic_title,reply_to_post_number\n"
                   "1,5,1,3,zoe,2025-05-01 10:00:00,Hello?,\n2,5,2,4,yan,2025-05-01 11:00:00,Hello?,\n")
    assert ingest.run("discourse", [csv], CLI).counts == {"members": counts(2), "activities": counts(2)}
    assert activities("discourse") == [("topic-5", "zoe", "thread", None, None, True, False, 0),
                                       ("2", "yan", "reply", "topic-5", "topic-5", False, False, 0)]


def test_discourse_data_explorer_csvs_with_post_types_likes_categories_and_users(database, tmp_path):
    (tmp_path / "posts.csv").write_text(
        "post_id,topic_id,post_number,user_id,username,created_at,topic_title,post_type,user_created_at,like_count,"
        "category\n"
        "1,5,1,3,zoe,2025-05-01 10:00:00,Hello,1,2025-04-01 08:00:00,4,Support\n"
        "2,5,2,4,yan,2025-05-01 11:00:00,Hello,1,2025-04-02 08:00:00,0,Support\n"
        "3,5,3,3,zoe,2025-05-01 11:30:00,Hello,3,2025-04-01 08:00:00,0,Support\n"
        "4,6,1,-1,system,2025-05-02 09:00:00,About Support,1,,0,Support\n")
    (tmp_path / "users.csv").write_text("user_id,username,name,created_at,admin,moderator\n"
                                        "3,zoe,Zoé Roy,2025-03-01 08:00:00,false,true\n"
                                        "-1,system,system,2025-01-01 00:00:00,true,true\n")
    result = ingest.run("discourse", [tmp_path / "posts.csv", tmp_path / "users.csv"], CLI)
    assert result.counts == {"members": counts(3), "activities": counts(3), "votes": counts(1)}
    assert result.notes == {"small actions: pinned, closed… (post type 3)": 1}
    assert activities("discourse") == [("topic-5", "Zoé Roy", "thread", None, None, False, False, 4),
                                       ("2", "yan", "reply", "topic-5", "topic-5", False, False, 0),
                                       ("topic-6", "system", "thread", None, None, False, False, 0)]
    assert rows("SELECT tags FROM activity WHERE external_id = 'topic-5'") == [(["Support"],)]
    assert rows("SELECT m.display_name, m.joined_at, m.is_staff, m.is_bot FROM member m ORDER BY m.joined_at") == [
        ("system", utc(2025, 1, 1), True, True), ("Zoé Roy", utc(2025, 3, 1, 8), True, False),
        ("yan", utc(2025, 4, 2, 8), False, False)]  # the users file first, then user_created_at


def test_discourse_validates_once_per_import_not_once_per_file(database, tmp_path, monkeypatch):
    seen = []
    validate = canonical.validate
    monkeypatch.setattr(canonical, "validate", lambda table, frame, *a: seen.append(table) or validate(table, frame, *a))
    for topic in range(40):
        (tmp_path / f"t-{topic}.json").write_text(json.dumps({"id": topic, "title": f"Topic {topic}", "post_stream": {
            "posts": [{"id": topic * 10 + n, "topic_id": topic, "post_number": n + 1, "post_type": 1, "user_id": n,
                       "username": f"u{n}", "created_at": f"2025-05-01T10:0{n}:00.000Z"} for n in range(3)]}}))
    result = ingest.run("discourse", sorted(tmp_path.iterdir()), CLI)
    assert result.counts == {"members": counts(3), "activities": counts(120)}
    assert sorted(seen) == ["activities", "members"]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("latest.json", '{"users": [], "topic_list": {"topics": []}}',
     "latest.json: holds no posts: add /posts.json pages, topic pages or a Data Explorer posts CSV"),
    ("tags.json", '["a", "b"]', "tags.json: holds no posts: add /posts.json pages, topic pages or a Data Explorer"
                                " posts CSV"),
    ("general.json", '{"guild": {}, "messages": []}', "general.json: is not a Discourse export we know: expected posts"
     " (latest_posts, post_stream), topics (topic_list), users (directory_items, user, users) or categories"),
    ("posts.json", "42", "posts.json: is not a Discourse export: a JSON object or list was expected"),
    ("posts.json", '{"latest_posts": ["a"]}', "posts.json: is not a Discourse export: its posts are not a list of"
                                              " objects"),
    ("t-1.json", '{"post_stream": {"posts": ' + "[" * 100_000 + "]" * 100_000 + "}}",
     "t-1.json, line 1: is not a data export: its JSON nests arrays or objects too deeply"),
    ("posts.csv", "topic_id,post_number,user_id\n1,1,1\n",
     "posts.csv: missing column 'id' of a Data Explorer posts export"),
])
def test_discourse_files_that_cannot_be_imported_say_why(database, tmp_path, name, data, message):
    (tmp_path / name).write_text(data)
    with pytest.raises(Rejected) as err:
        ingest.run("discourse", [tmp_path / name], CLI)
    assert str(err.value) == message
    assert rows("SELECT status, error FROM import_run") == [("rejected", message)]
    assert set(table_sizes().values()) == {0}


def test_discord_chat_export(database):
    result = ingest.run("discord", fixture("discord"), CLI)
    assert result.counts == {"members": counts(3), "activities": counts(5), "votes": counts(1)}
    assert activities("discord") == [
        ("1002", "Nina", "thread", None, None, True, False, 2),  # 3 👍, one by a listed user
        ("1002/👍/u2", "omar", "reaction", "1002", "1002", False, False, 0),
        ("1003", "omar", "reply", "1002", "1002", False, False, 0),
        ("1004", "Nina", "reply", "1003", "1002", False, False, 0),
        ("1005", "helper-bot", "thread", None, None, False, False, 0)]  # a bot's message; the pin is not talk
    assert members("discord") == [("b1", "helper-bot", "helper-bot", utc(2025, 6, 1, 9, 31)),
                                  ("u1", "nina", "Nina", utc(2025, 6, 1, 8)),  # the join message
                                  ("u2", "omar", "omar", utc(2025, 6, 1, 9, 0, 0, 123000))]
    assert rows("SELECT display_name FROM member WHERE is_bot") == [("helper-bot",)]


def test_social_listening_mentions_are_scored_once_at_import(database):
    result = ingest.run("mentions", fixture("mentions"), CLI)
    assert result.counts == {"mentions": counts(3)}
    assert rows("SELECT source, author, reach, lang, sentiment FROM mention ORDER BY created_at") == [
        ("x", "@lou", 1500, "fr", 1), ("reddit", "dev42", 320, "en", -1), ("news", None, 0, "en", 0)]


# ---------------------------------------------------------------- bad files change nothing
BAD = [
    ("members.csv", b"platform,external_id,display_name,joined_at\nforum,u1,Ann,yesterday\n",
     "members.csv, line 2, field joined_at: 'yesterday' is not a date and time (ISO 8601, e.g. 2024-05-01T12:00:00Z)"),
    ("members.csv", b"platform,external_id,display_name,joined_at,karma\nforum,u1,Ann,2026-01-01,3\n",
     "members.csv: unknown column 'karma': the columns of members are platform, external_id, display_name, handle,"
     " joined_at, is_staff, is_bot"),
    ("members.csv", b"platform,external_id,display_name,joined_at\nforum,u1,Ann,2026-01-01\nforum,u2,Bo,2099-01-01\n",
     "members.csv, line 3, field joined_at: '2099-01-01' is in the future"),
    ("members.csv", b"platform,external_id,display_name,joined_at\nforum,u1,Ann,2026-01-01\nforum,u1,Al,2026-01-02\n",
     "members.csv, line 3, field external_id: duplicate row with other values: platform 'forum', external_id 'u1' is already on line 2"),
    ("members.csv", "platform,external_id,display_name,joined_at\nforum,u1,Zoé,2026-01-01\n".encode("latin-1"),
     "members.csv, line 2: is not UTF-8 text (byte 0xe9): save the file as UTF-8"),
    ("members.csv", b"platform,external_id,display_name,joined_at\nforum,u1," + b"A" * 201 + b",2026-01-01\n",
     "members.csv, line 2, field display_name: is longer than 200 characters"),
    ("members.csv", b"\n \n", "members.csv: the file is empty"),
    ("members.csv", b"", "members.csv: the file is empty (0 bytes)"),
    ("members.csv", b"platform,external_id,display_name,joined_at\n", "members.csv: has no rows"),
    ("members.csv", b"platform,external_id,joined_at\nforum,u1,2026-01-01\n", "members.csv: missing column 'display_name'"),
    ("activities.jsonl", b'{"platform": "forum", "external_id": "a", "author": "u1", "kind": "thread",'
                         b' "created_at": "2026-01-01T00:00:00Z"}\n{"platform": "forum", "external_id": "b"\n',
     "activities.jsonl, line 2: is not valid JSON (Expecting ',' delimiter, column 41)"),
    ("activities.jsonl", b'{"platform": "forum", "external_id": "a", "author": "u1", "kind": "post",'
                         b' "created_at": "2026-01-01T00:00:00Z"}\n',
     "activities.jsonl, line 1, field kind: 'post' is not one of thread, reply, comment, answer, reaction"),
    ("activities.jsonl", b'{"platform": "forum", "external_id": "a", "author": "u1", "kind": "reply",'
                         b' "created_at": "2026-01-01T00:00:00Z"}\n',
     "activities.jsonl, line 1, field parent: a reply, comment, answer or reaction needs the parent it responds to"),
    ("revenue.csv", b"external_id,stream,amount_minor,currency,booked_on\nr1,donation,12.50,EUR,2026-01-01\n",
     "revenue.csv, line 2, field amount_minor: '12.50' is not a whole number"),
    ("ledger.csv", b"a\n1\n", "ledger.csv: unknown table 'ledger': name the file after its table, one of platforms,"
     " members, identities, activities, votes, moderation_cases, events, attendance, mentions, sponsors, campaigns,"
     " delivery, revenue"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[m.split(": ")[-1][:40] for *_, m in BAD])
def test_a_bad_canonical_file_is_rejected_with_its_line_and_field_and_writes_nothing(database, tmp_path, name, data,
                                                                                   message):
    ingest.run("canonical", [FIXTURES / "canonical/platforms.csv"], CLI)
    before = table_sizes()
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(Rejected) as err:
        ingest.run("canonical", [FIXTURES / "canonical/sponsors.csv", path], CLI)
    assert str(err.value) == message
    assert table_sizes() == before  # the good sponsors file beside it was not written either
    history = ingest.history(CLI)
    assert history.row(0, named=True)["status"] == "rejected" and history["error"][0] == message


def test_a_missing_reference_found_while_loading_rolls_back_the_tables_before_it(database, tmp_path):
    (tmp_path / "activities.csv").write_text(
        "platform,external_id,author,kind,parent,created_at\n"
        "forum,a1,u1,thread,,2026-03-01T10:00:00Z\nforum,a2,u2,reply,a9,2026-03-01T11:00:00Z\n")
    files = [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv", tmp_path / "activities.csv"]
    with pytest.raises(Rejected) as err:
        ingest.run("canonical", files, CLI)
    assert str(err.value) == ("activities.csv, line 3, field parent: unknown parent 'a9': no activity has this id"
                              " on platform 'forum'")
    assert set(table_sizes().values()) == {0}  # platforms and members, loaded first, rolled back


def test_an_unknown_author_or_platform_is_named(database, tmp_path):
    (tmp_path / "activities.csv").write_text(
        "platform,external_id,author,kind,created_at\nforum,a1,u7,thread,2026-03-01T10:00:00Z\n")
    with pytest.raises(Rejected, match="activities.csv, line 2, field author: unknown author 'u7' on platform"
                                       " 'forum': import the members first"):
        ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv",
                                 tmp_path / "activities.csv"], CLI)
    with pytest.raises(Rejected, match="activities.csv, line 2, field platform: unknown platform 'forum': add it on"
                                       " the Data page"):
        ingest.run("canonical", [tmp_path / "activities.csv"], CLI)


def test_bad_platform_exports_are_rejected_and_write_nothing(database, tmp_path):
    posts = (FIXTURES / "stackexchange/Posts.xml").read_bytes()
    (tmp_path / "Posts.xml").write_bytes(posts[:posts.index(b'<row Id="12"') + 30])
    shutil.copy(FIXTURES / "stackexchange/Users.xml", tmp_path)
    (tmp_path / "general.json").write_bytes(b'{"guild": {}, "channel": {}}')
    (tmp_path / "Comments.xml").write_bytes(b"")
    (tmp_path / "Posts2.xml").write_text((FIXTURES / "stackexchange/Posts.xml").read_text()
                                         .replace('CreationDate="2025-04-01T09:30:00.000"', 'CreationDate="soon"'))
    cases = [
        ("stackexchange", [tmp_path / "Users.xml", tmp_path / "Posts.xml"],
         "Posts.xml, line 5: is not well-formed XML, or is cut short (unclosed token, column 2)"),
        ("stackexchange", [tmp_path / "Users.xml", tmp_path / "Posts.xml", tmp_path / "Comments.xml"],
         "Comments.xml: the file is empty (0 bytes)"),
        ("stackexchange", [tmp_path / "Users.xml"],
         "Posts.xml: is missing: a Stack Exchange import needs Users.xml and Posts.xml at least"),
        ("discord", [tmp_path / "general.json"],
         "general.json: is not a DiscordChatExporter JSON export (no \"messages\" list)"),
    ]
    for source, paths, message in cases:
        with pytest.raises(Rejected) as err:
            ingest.run(source, paths, CLI)
        assert str(err.value) == message
    shutil.copy(tmp_path / "Posts2.xml", tmp_path / "sub_Posts.xml")
    bad_dates = tmp_path / "bad"
    bad_dates.mkdir()
    shutil.copy(tmp_path / "Users.xml", bad_dates / "Users.xml")
    shutil.copy(tmp_path / "Posts2.xml", bad_dates / "Posts.xml")
    with pytest.raises(Rejected) as err:
        ingest.run("stackexchange", [bad_dates / "Users.xml", bad_dates / "Posts.xml"], CLI)
    assert str(err.value) == ("Posts.xml, row Id 11, field created_at: 'soon' is not a date and time (ISO 8601,"
                              " e.g. 2024-05-01T12:00:00Z)")
    assert set(table_sizes().values()) == {0}


def test_only_administrators_import(database):
    for role in ("manager", "staff"):
        with pytest.raises(AccessDenied):
            ingest.run("canonical", fixture("canonical"), Principal("someone", role))
    with pytest.raises(AccessDenied):
        ingest.history(Principal("acme", "sponsor", sponsor_id=1))


def test_killing_the_import_process_mid_way_leaves_the_database_as_it_was(database, tmp_path):
    from cmcore.bench import imports
    paths = imports.write_canonical(tmp_path, members=2_000, activities=300_000, fmt="csv")
    schema = indexes_and_keys("activity")
    env = {**os.environ, "DATABASE_URL": database, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "cmcore", "import", "canonical", *map(str, paths)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not rows("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"):  # writing has begun
            assert proc.poll() is None and time.monotonic() < deadline, "the import ended before it was killed"
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert set(table_sizes().values()) == {0}
    assert indexes_and_keys("activity") == schema  # the dropped indexes are back: the DDL rolled back too
    assert rows("SELECT count(*) FROM import_run") == [(0,)]


# ---------------------------------------------------------------- merges
def test_staff_merge_two_accounts_of_one_person_and_undo_it(database, tmp_path):
    ingest.run("canonical", fixture("canonical"), CLI)
    staff = Principal("sam", "staff")
    ann, ann_chat = 1, 4  # u1 on the forum, d1 on chat
    assert identities.candidates(staff).select("member_id", "into_member_id", "shared_name").rows() == [
        (4, 1, "ann")]
    (tmp_path / "activities.csv").write_text("platform,external_id,author,kind,created_at\n"
                                             "chat,m2,d1,thread,2026-03-05T10:00:00Z\n")
    ingest.run("canonical", [tmp_path / "activities.csv"], CLI)
    merge_id = identities.merge(staff, ann_chat, ann)
    assert rows("SELECT member_id, count(*) FROM activity GROUP BY 1 ORDER BY 1") == [(1, 2), (2, 3), (3, 1)]
    assert rows("SELECT joined_at FROM member WHERE id = 1") == [(utc(2026, 1, 2, 10),)]  # d1 joined first
    frames.clear()
    assert 4 not in frames.table("members")["member_id"].to_list()
    assert identities.candidates(staff).is_empty()
    # imports after the merge: unchanged rows stay unchanged, new ones go to the merged person
    again = ingest.run("canonical", fixture("canonical"), CLI)
    assert again.counts["activities"] == counts(skipped=5) and again.counts["members"] == counts(skipped=4)
    (tmp_path / "activities.csv").write_text("platform,external_id,author,kind,created_at\n"
                                             "chat,m3,d1,thread,2026-03-06T10:00:00Z\n")
    ingest.run("canonical", [tmp_path / "activities.csv"], CLI)
    assert rows("SELECT member_id FROM activity WHERE external_id = 'm3'") == [(1,)]
    identities.undo(staff, merge_id)
    assert rows("SELECT member_id, count(*) FROM activity GROUP BY 1 ORDER BY 1") == [(1, 1), (2, 3), (3, 1),
                                                                                      (4, 2)]
    assert rows("SELECT id, joined_at, merged_into FROM member WHERE id IN (1, 4) ORDER BY id") == [
        (1, utc(2026, 1, 5, 9), None), (4, utc(2026, 1, 2, 10), None)]
    with pytest.raises(identities.MergeError, match="already undone"):
        identities.undo(staff, merge_id)
    assert [r[0] for r in rows("SELECT action FROM audit_log WHERE action LIKE 'member.%' ORDER BY id")] == [
        "member.merge", "member.unmerge"]


def test_a_merge_keeps_one_registration_per_event_and_undo_restores_both(database):
    ingest.run("canonical", fixture("canonical"), CLI)
    staff = Principal("sam", "staff")
    merge_id = identities.merge(staff, 4, 1)  # Ann's chat account into her forum one: both registered for ev1
    registrations = ("SELECT e.external_id, a.member_id, a.attended FROM event_attendance a JOIN event e"
                     " ON e.id = a.event_id ORDER BY 1, 2")
    assert rows(registrations) == [("ev1", 1, True), ("ev1", 2, False), ("ev2", 3, False)]
    identities.undo(staff, merge_id)
    assert rows(registrations) == [("ev1", 1, True), ("ev1", 2, False), ("ev1", 4, False), ("ev2", 3, False)]


def test_an_undo_is_refused_once_the_accounts_rows_can_no_longer_be_told_apart(database, tmp_path):
    ingest.run("canonical", fixture("canonical"), CLI)
    staff = Principal("sam", "staff")
    merge_id = identities.merge(staff, 4, 1)  # Ann's chat account d1 into her forum account
    (tmp_path / "identities.csv").write_text("platform,external_id,handle,joined_at,member_platform,member_external_id\n"
                                             "chat,d7,ann_alt,2026-03-09T10:00:00Z,forum,u1\n")
    ingest.run("canonical", [tmp_path / "identities.csv"], CLI)  # a second chat account for Ann, after the merge
    with pytest.raises(identities.MergeError, match="member 1 has had another account on chat since the merge"
                                                    " \\(d7\\)"):
        identities.undo(staff, merge_id)
    assert rows("SELECT merged_into FROM member WHERE id = 4") == [(1,)]


def test_merges_that_cannot_be_undone_exactly_are_refused(database):
    ingest.run("canonical", fixture("canonical"), CLI)
    staff = Principal("sam", "staff")
    with pytest.raises(identities.MergeError, match="both members have an account on forum"):
        identities.merge(staff, 3, 1)
    with pytest.raises(identities.MergeError, match="cannot be merged into itself"):
        identities.merge(staff, 1, 1)
    identities.merge(staff, 4, 1)
    with pytest.raises(identities.MergeError, match="Ann M. is already merged into member 1"):
        identities.merge(staff, 4, 3)
    with pytest.raises(AccessDenied):
        identities.merge(Principal("acme", "sponsor", sponsor_id=1), 3, 1)


def test_discourse_topic_pages_and_a_users_list(database, tmp_path):
    (tmp_path / "t-60.json").write_text(
        '{"id": 60, "title": "Mise à jour", "post_stream": {"posts": ['
        '{"id": 601, "topic_id": 60, "post_number": 1, "user_id": 3, "username": "ines",'
        ' "created_at": "2025-05-03T08:00:00.000Z", "raw": "Nouvelle version"},'
        '{"id": 602, "topic_id": 60, "post_number": 2, "user_id": 4, "username": "theo",'
        ' "created_at": "2025-05-03T09:00:00.000Z", "raw": "Top", "reply_to_post_number": 1}]}}')
    (tmp_path / "users.json").write_text(
        '[{"id": 3, "username": "ines", "name": "Inès", "created_at": "2025-01-01T00:00:00Z"},'
        ' {"id": 4, "username": "theo", "name": "", "created_at": "2025-02-01T00:00:00Z"}]')  # no name: the username
    result = ingest.run("discourse", [tmp_path / "t-60.json", tmp_path / "users.json"], CLI, platform="forum-fr")
    assert result.counts == {"members": counts(2), "activities": counts(2)}
    assert members("forum-fr") == [("3", "ines", "Inès", utc(2025, 1, 1)), ("4", "theo", "theo", utc(2025, 2, 1))]
    assert activities("forum-fr") == [("topic-60", "Inès", "thread", None, None, False, False, 0),
                                      ("602", "theo", "reply", "topic-60", "topic-60", False, False, 0)]
    assert rows("SELECT title FROM activity WHERE external_id = 'topic-60'") == [("Mise à jour",)]


def test_a_key_repeated_in_another_file_names_both(database, tmp_path):
    (tmp_path / "members.jsonl").write_text(
        '{"platform": "forum", "external_id": "u9", "display_name": "Nine", "joined_at": "2026-01-01"}\n'
        '{"platform": "forum", "external_id": "u1", "display_name": "Ann again", "joined_at": "2026-01-01"}\n')
    with pytest.raises(Rejected) as err:
        ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv",
                                 tmp_path / "members.jsonl"], CLI)
    assert str(err.value) == ("members.jsonl, line 2, field external_id: duplicate row with other values: platform 'forum',"
                              " external_id 'u1' is already in members.csv (line 2)")
    assert set(table_sizes().values()) == {0}


def test_a_reply_to_an_activity_imported_before_finds_its_parent_and_thread(database, tmp_path):
    ingest.run("canonical", fixture("canonical"), CLI)
    (tmp_path / "activities.csv").write_text("platform,external_id,author,kind,parent,created_at\n"
                                             "forum,p9,u3,reply,p2,2026-03-03T09:00:00Z\n")  # p2 is a comment in t1
    assert ingest.run("canonical", [tmp_path / "activities.csv"], CLI).counts == {"activities": counts(1)}
    assert activities("forum")[-1] == ("p9", "Chloé Dubois", "reply", "p2", "t1", False, False, 0)


def test_changed_activities_are_updated_whether_the_batch_is_large_or_small(database, tmp_path):
    ingest.run("canonical", fixture("canonical"), CLI)
    source = (FIXTURES / "canonical/activities.jsonl").read_text()
    # the whole export again, one body changed: every key of the platforms is read through Arrow
    (tmp_path / "activities.jsonl").write_text(source.replace("Merci !", "Merci beaucoup !"))
    assert ingest.run("canonical", [tmp_path / "activities.jsonl"], CLI).counts == {
        "activities": counts(updated=1, skipped=4), "votes": counts(skipped=1)}
    # one row alone, a fifth of the table or less: its keys are looked up in the database
    (tmp_path / "activities.jsonl").write_text(source.splitlines()[1].replace('"accepted": true', '"accepted": false')
                                               + "\n")
    assert ingest.run("canonical", [tmp_path / "activities.jsonl"], CLI).counts == {"activities": counts(updated=1)}
    assert rows("SELECT external_id, body, accepted FROM activity WHERE external_id IN ('p1', 'p2') ORDER BY 1") == [
        ("p1", "Use the link on the sign-in page.", False), ("p2", "Merci beaucoup !", False)]
    assert activities("forum")[1:3] == [("p1", "Ann Martin", "answer", "t1", "t1", False, False, 0),
                                        ("p2", "Chloé Dubois", "comment", "p1", "t1", False, False, 0)]


def test_tags_keep_commas_quotes_braces_and_backslashes(database, tmp_path):
    ingest.run("canonical", [FIXTURES / "canonical/platforms.csv", FIXTURES / "canonical/members.csv"], CLI)
    tags = ["a,b", 'say "hi"', "back\\slash", "{braces}", "NULL", "été"]
    pl.DataFrame({"platform": ["forum"], "external_id": ["t9"], "author": ["u1"], "kind": ["thread"],
                  "created_at": ["2026-03-02T10:00:00Z"], "tags": [tags]}).write_ndjson(tmp_path / "activities.jsonl")
    ingest.run("canonical", [tmp_path / "activities.jsonl"], CLI)
    assert rows("SELECT tags FROM activity WHERE external_id = 't9'") == [(tags,)]
    assert ingest.run("canonical", [tmp_path / "activities.jsonl"], CLI).counts == {"activities": counts(skipped=1)}


def test_a_new_reply_down_a_chain_of_replies_finds_its_thread_in_a_mixed_batch(database, tmp_path):
    ingest.run("canonical", fixture("canonical"), CLI)
    source = (FIXTURES / "canonical/activities.jsonl").read_text()
    (tmp_path / "activities.jsonl").write_text(  # the export again, with a reply to p2 (p2 → p1 → t1)
        source + '{"platform": "forum", "external_id": "p9", "author": "u1", "kind": "reply", "parent": "p2",'
        ' "created_at": "2026-03-04T08:00:00Z"}\n')
    assert ingest.run("canonical", [tmp_path / "activities.jsonl"], CLI).counts == {
        "activities": counts(inserted=1, skipped=5), "votes": counts(skipped=1)}
    assert activities("forum")[-1] == ("p9", "Ann Martin", "reply", "p2", "t1", False, False, 0)
    assert rows("SELECT count(*) FROM activity") == [(6,)]


def test_jsonl_read_by_polars_or_line_by_line_gives_the_same_rows():
    line = ('{{"platform": "forum", "external_id": {id}, "author": "u1", "kind": "thread", "created_at": "2026-01-01",'
            ' "tags": ["a", " b ", ""], "sentiment": {sentiment}, "is_question": true}}\n')
    polars_read = (line.format(id=3, sentiment=0.5) + "\n" + line.format(id='"x"', sentiment=1)).encode()
    # 3.5 as an id reads as a float, which would print 3 as 3.0: that file is read line by line
    line_read = polars_read + line.format(id=3.5, sentiment=1).encode()
    expected = [("3", ["a", "b"], 0.5, True, 1), ("x", ["a", "b"], 1.0, True, 3)]
    for data, rows_read in ((polars_read, expected), (line_read, [*expected, ("3.5", ["a", "b"], 1.0, True, 4)])):
        part = canonical.read("activities.jsonl", data)
        frame = part.frame.with_columns(pl.lit(part.file).alias("_file"))
        got = canonical.validate(part.table, frame, {part.file: part.unit}).select("external_id", "tags", "sentiment", "is_question", "_line")
        assert got.rows() == rows_read
