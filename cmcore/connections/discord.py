"""Discord, through its REST API with a bot's token (no gateway): the messages of the chosen
channels after the last message id loaded (`/channels/{id}/messages?after=`, 100 a page), the
messages they reply to that an earlier sync loaded (so a reply stays a reply), and the server's
members with the date they joined (`/guilds/{id}/members`, which needs the bot's Server Members
intent). They are written as the DiscordChatExporter JSON that the Discord importer reads
(cmcore/ingest/discord.py): reactions are counted per emoji, so they are anonymous reactions of
the message's day; bots are flagged."""
from __future__ import annotations

from cmcore.connections.batch import Batch, listed
from cmcore.connections.http import Client, Fault

SOURCE = "discord"
SETTINGS = ("url", "guild", "channels")  # the API's address; the server's id; channel ids, comma-separated
SECRETS = ("token",)  # the bot's token
PATTERNS = {"guild": r"\d{1,20}", "channels": r"\d{1,20}(\s*,\s*\d{1,20})*"}  # ids are snowflakes
DEFAULTS = {"url": "https://discord.com/api/v10"}
PAGE = 100  # messages a page (the API's most)
MEMBERS_PAGE = 1000
# Discord's message types (discord.com/developers/docs/resources/message#message-object-message-types)
# as DiscordChatExporter names them; any other type is a system message, not talk.
TYPES = {0: "Default", 7: "GuildMemberJoin", 19: "Reply", 21: "ThreadStarterMessage"}
MOST_PARENTS = 1000  # older messages fetched in one sync to keep replies replies


def client(settings: dict, secrets: dict) -> Client:
    return Client(settings["url"], headers={"Authorization": f"Bot {secrets['token']}"})


def _channels(settings: dict) -> list[str]:
    return [c.strip() for c in settings["channels"].split(",") if c.strip()]


def probe(api: Client, settings: dict) -> int:
    """The newest messages of the first channel (the connection's test)."""
    return len(listed(api.get(f"/channels/{_channels(settings)[0]}/messages", limit=PAGE)))


def _exported(message: dict) -> dict:
    """An API message as DiscordChatExporter writes it."""
    author = message.get("author") or {}
    reference = (message.get("message_reference") or {}).get("message_id")
    return {"id": message["id"], "type": TYPES.get(message.get("type", 0), f"Type{message.get('type')}"),
            "timestamp": message["timestamp"], "content": message.get("content") or "",
            "author": {"id": author.get("id"), "name": author.get("username"), "nickname": author.get("global_name"),
                       "isBot": bool(author.get("bot"))},
            **({"reference": {"messageId": reference}} if reference else {}),
            "reactions": [{"emoji": {"id": r["emoji"].get("id"), "name": r["emoji"].get("name")},
                           "count": r.get("count", 0), "users": []} for r in message.get("reactions") or []]}


def _messages(api: Client, channel: str, after: str) -> list[dict]:
    """Every message of `channel` after the id `after`, oldest first."""
    found: list[dict] = []
    while True:
        page = listed(api.get(f"/channels/{channel}/messages", after=after, limit=PAGE))
        found += page
        if len(page) < PAGE:
            return sorted(found, key=lambda m: int(m["id"]))
        after = max((m["id"] for m in page), key=int)


def _parents(api: Client, channel: str, messages: list[dict]) -> list[dict]:
    """The older messages that `messages` reply to, up their chains: a reply to one stays a reply."""
    have = {m["id"] for m in messages}
    older: list[dict] = []
    waiting = list(messages)
    while waiting:
        message = waiting.pop()
        parent = (message.get("message_reference") or {}).get("message_id")
        if not parent or parent in have:
            continue
        if len(older) >= MOST_PARENTS:
            raise Fault(f"more than {MOST_PARENTS} older messages replied to in one sync")
        if "referenced_message" in message and message["referenced_message"] is None:
            continue  # deleted: the reply opens a thread
        # given inline with a reply (without its own referenced message), else asked for
        found = message.get("referenced_message") or api.get(f"/channels/{channel}/messages/{parent}")
        have.add(found["id"])
        older.append(found)
        waiting.append(found)
    return older


def _members(api: Client, guild: str) -> list[dict]:
    """The server's members (user, joined_at), paged by user id."""
    found, after = [], "0"
    while True:
        page = listed(api.get(f"/guilds/{guild}/members", limit=MEMBERS_PAGE, after=after))
        found += page
        if len(page) < MEMBERS_PAGE:
            return found
        after = max((m["user"]["id"] for m in page), key=int)


def fetch(api: Client, settings: dict, cursor: dict, batch: Batch) -> None:
    """Into `batch`: each channel's messages after `cursor["channels"][id]` (with the messages they
    reply to), the members who joined after `cursor["joined"]` as join messages."""
    after = dict(cursor.get("channels", {}))
    joined = cursor.get("joined", "")
    channels: dict[str, list[dict]] = {}
    for channel in _channels(settings):
        messages = _messages(api, channel, after.get(channel, "0"))
        batch.items += len(messages)
        if messages:
            channels[channel] = messages + _parents(api, channel, messages)
            after[channel] = messages[-1]["id"]
    members = [m for m in _members(api, settings["guild"]) if str(m.get("joined_at", "")) > joined]
    batch.items += len(members)
    for channel, messages in channels.items():
        batch.write(f"channel-{channel}.json", {"channel": {"id": channel}, "messages": [_exported(m) for m in messages]})
    if members:
        batch.write("members.json", {"guild": {"id": settings["guild"]}, "messages": [
            {"id": f"join-{m['user']['id']}", "type": "GuildMemberJoin", "timestamp": m["joined_at"], "content": "",
             "author": {"id": m["user"]["id"], "name": m["user"].get("username"),
                        "nickname": m.get("nick") or m["user"].get("global_name"), "isBot": bool(m["user"].get("bot"))}}
            for m in members]})
        joined = max(str(m["joined_at"]) for m in members)
    batch.cursor = {"channels": after, "joined": joined}
