"""Sending one message: e-mail over SMTP (or to files in the data folder when no server is set),
webhooks in Slack's, Discord's or a generic JSON format signed with HMAC-SHA256."""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from cmcore import settings
from cmcore.alerts.messages import Message

TIMEOUT = 15  # seconds for a server to answer
SIGNATURE_HEADER = "X-Console-Signature"  # "sha256=" + the hex HMAC-SHA256 of the body


class ChannelError(RuntimeError):
    """The message could not be sent; the text says why."""


def email(message: Message, to: str, message_id: str, attached: Sequence[tuple[str, str]] = ()) -> None:
    """Send `message` to the address `to`, with HTML files `attached` (name, text). Its Message-ID
    is fixed by the notification, so a mail client shows once a message that a lost
    acknowledgement made the worker send twice."""
    conf = settings.current()
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = message.subject, conf.smtp.sender, to
    mail["Date"], mail["Message-ID"] = formatdate(localtime=False), message_id
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    for name, text in attached:
        mail.add_attachment(text, subtype="html", filename=name)
    if conf.smtp.host is None:
        _to_file(mail, conf.data_dir / "mail", message_id)
        return
    try:
        if conf.smtp.tls == "ssl":
            server = smtplib.SMTP_SSL(conf.smtp.host, conf.smtp.port, timeout=TIMEOUT,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(conf.smtp.host, conf.smtp.port, timeout=TIMEOUT)
        with server:
            if conf.smtp.tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if conf.smtp.user:
                server.login(conf.smtp.user, conf.smtp.password or "")
            server.send_message(mail)
    except (OSError, smtplib.SMTPException) as err:
        raise ChannelError(f"SMTP {conf.smtp.host}:{conf.smtp.port}: {err}") from err


def _to_file(mail: EmailMessage, folder: Path, message_id: str) -> None:
    """Development without an SMTP server: the message as an .eml file (`./dev app` says where)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in message_id.strip("<>"))
    (folder / f"{name}.eml").write_bytes(bytes(mail))


def payload(fmt: str, message: Message, meta: dict) -> dict:
    """The webhook's JSON body: Slack's and Discord's incoming-webhook formats, or a generic one
    holding the message and what it is about (`meta`)."""
    if fmt == "slack":
        return {"text": f"*{message.subject}*\n{message.text.split(chr(10))[0]}\n<{message.url}|{message.url}>"}
    if fmt == "discord":
        return {"content": message.subject[:2000],
                "embeds": [{"title": message.subject[:256], "description": message.text[:4000], "url": message.url}]}
    return {**meta, "subject": message.subject, "text": message.text, "url": message.url}


def sign(body: bytes, key: str | None = None) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    key = key or settings.current().webhook_key
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def webhook(url: str, fmt: str, message: Message, meta: dict) -> None:
    """POST the message to `url`; any answer but 2xx is a failure."""
    body = json.dumps(payload(fmt, message, meta), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "community-console",
               "Idempotency-Key": str(meta["id"])}
    if fmt == "json":
        headers[SIGNATURE_HEADER] = sign(body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            answer.read()
    except urllib.error.HTTPError as err:
        raise ChannelError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (OSError, ValueError) as err:
        raise ChannelError(f"{url}: {err}") from err
