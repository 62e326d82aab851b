"""Discord's REST API played by a real HTTP server (messages after an id, newest first, 100 a page;
replies with their referenced message; members paged by user id; 429 with Retry-After; 401):
rows loaded as a DiscordChatExporter file's would be, replies kept replies across syncs."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cmcore import connections
from cmcore.access import CLI
from cmcore.connections import sync
from cmcore.refusal import Refusal
from tests.servers import answer, api_server
from tests.test_connections import rows, state

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.fake-bot-token"
GUILD, GENERAL, HELP = "900", "10", "11"


class Server:
    """A Discord server as API v10 answers (discord.com/developers/docs/resources/message)."""

    def __init__(self) -> None:
        self.users = {u: {"id": u, "username": f"user{u}", "global_name": f"User {u}", **({"bot": True} if u == "4"
                                                                                          else {})}
                      for u in ("1", "2", "3", "4")}
        self.members = [{"user": self.users[u], "joined_at": f"2026-01-0{u}T12:00:00.000000+00:00", "nick": None}
                        for u in ("1", "2", "3", "4")]
        self.channels: dict[str, dict[str, dict]] = {GENERAL: {}, HELP: {}}
        self.next = 1000

    def say(self, channel: str, author: str, content: str, reply_to: str | None = None, day: int = 5,
            reactions: int = 0) -> str:
        self.next += 1
        message = {"id": str(self.next), "channel_id": channel, "type": 19 if reply_to else 0, "content": content,
                   "author": self.users[author], "timestamp": f"2026-02-{day:02d}T10:{self.next % 60:02d}:00+00:00",
                   "edited_timestamp": None,
                   "reactions": [{"count": reactions, "me": False, "emoji": {"id": None, "name": "👍"}}] if reactions else []}
        if reply_to:
            message["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel, "guild_id": GUILD}
        self.channels[channel][message["id"]] = message
        return message["id"]

    def _inline(self, message: dict) -> dict:
        parent = (message.get("message_reference") or {}).get("message_id")
        return {**message, "referenced_message": self.channels[message["channel_id"]].get(parent)} if parent else message

    def handle(self, path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
        if headers.get("Authorization") != f"Bot {TOKEN}":
            return answer({"message": "401: Unauthorized", "code": 0}, 401)
        parts = path.removeprefix("/api/v10/").split("/")
        if parts[0] == "channels" and len(parts) == 3:
            after, limit = int(query.get("after", 0)), int(query.get("limit", 50))
            page = sorted((m for m in self.channels[parts[1]].values() if int(m["id"]) > after),
                          key=lambda m: int(m["id"]))[:limit]
            return answer([self._inline(m) for m in reversed(page)])  # newest first
        if parts[0] == "channels" and len(parts) == 4:
            return answer(self.channels[parts[1]][parts[3]])
        if parts[0] == "guilds":
            after, limit = int(query.get("after", 0)), int(query.get("limit", 1))
            return answer(sorted((m for m in self.members if int(m["user"]["id"]) > after),
                                 key=lambda m: int(m["user"]["id"]))[:limit])
        return answer({"message": "404: Not Found", "code": 0}, 404)


@pytest.fixture
def discord():
    server = Server()
    first = server.say(GENERAL, "1", "Welcome! How do I get the role?", reactions=3)
    for n in range(140):
        server.say(GENERAL, "2" if n % 2 else "3", f"Message {n}", reply_to=first if n % 10 == 0 else None)
    server.say(GENERAL, "4", "Reminder: the event starts at 18:00")  # a bot
    server.say(HELP, "3", "Is the API down?")
    with api_server(server.handle) as (api, base):
        yield server, api, base


def connect(base: str, channels: str = f"{GENERAL}, {HELP}") -> int:
    return connections.add(CLI, "discord", "Our server", "discord-main", {"url": base + "/api/v10", "guild": GUILD,
                                                                         "channels": channels}, {"token": TOKEN})


def test_a_sync_loads_the_channels_members_replies_reactions_and_bots(database, discord):
    server, api, base = discord
    cid = connect(base)
    outcome = sync.run(cid)
    assert (outcome.state, outcome.items, outcome.error) == ("ok", 143 + 4, None)
    assert [q["after"] for p, q, _ in api.seen if p == f"/api/v10/channels/{GENERAL}/messages"] == ["0", "1100"]
    assert rows("SELECT kind, count(*) FROM activity GROUP BY kind ORDER BY kind") == [("reply", 14), ("thread", 129)]
    assert rows("SELECT count(*) FROM activity a JOIN activity p ON p.id = a.parent_id WHERE p.external_id = '1001'"
                ) == [(14,)]
    assert rows("SELECT is_question FROM activity WHERE external_id IN ('1001', '1143') ORDER BY external_id") == [
        (True,), (True,)]
    assert rows("SELECT v.up FROM activity_vote v JOIN activity a ON a.id = v.activity_id") == [(3,)]
    assert rows("SELECT i.external_id, m.joined_at, m.is_bot FROM member_identity i JOIN member m ON m.id = i.member_id"
                " ORDER BY 1") == [(u, datetime(2026, 1, int(u), 12, tzinfo=UTC), u == "4") for u in "1234"]
    assert state(cid)[1] == {"channels": {GENERAL: "1142", HELP: "1143"}, "joined": "2026-01-04T12:00:00.000000+00:00"}


def test_a_reply_to_an_older_message_stays_a_reply_and_the_rest_is_unchanged(database, discord):
    server, api, base = discord
    cid = connect(base)
    sync.run(cid)
    before = rows("SELECT external_id, kind, parent_id, xmin::text FROM activity ORDER BY id")
    reply = server.say(GENERAL, "1", "Still no role for me", reply_to="1012", day=6)  # 1012 replies to 1001
    api.seen.clear()
    assert sync.run(cid).items == 1
    assert f"/api/v10/channels/{GENERAL}/messages/1001" in [p for p, _, _ in api.seen]  # up the chain
    assert rows("SELECT external_id, kind, parent_id, xmin::text FROM activity ORDER BY id")[:-1] == before
    assert rows("SELECT a.kind, p.external_id FROM activity a JOIN activity p ON p.id = a.parent_id"
                " WHERE a.external_id = :r", r=reply) == [("reply", "1012")]


def test_rate_limits_are_waited_and_a_revoked_token_says_so(database, discord):
    server, api, base = discord
    cid = connect(base)
    api.faults[f"/api/v10/channels/{HELP}/messages"] = [answer(
        {"message": "You are being rate limited.", "retry_after": 0.25, "global": False}, 429, **{"Retry-After": "1"})]
    waits: list[float] = []
    assert sync.run(cid, sleep=waits.append).state == "ok" and waits == [1.0]
    outcome = sync.run(connections.add(CLI, "discord", "Other", "discord-2", {
        "url": base + "/api/v10", "guild": GUILD, "channels": HELP}, {"token": "revoked"}))
    assert outcome.state == "revoked" and outcome.error.startswith("GET /api/v10/channels/11/messages: HTTP 401")


def test_channel_ids_must_be_ids(database):
    with pytest.raises(Refusal, match="'general' is not a valid channels"):
        connections.add(CLI, "discord", "Bad", "discord", {"url": "https://discord.com/api/v10", "guild": GUILD,
                                                          "channels": "general"}, {"token": TOKEN})
