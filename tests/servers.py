"""Real servers on this machine for the tests: an SMTP server (aiosmtpd) that keeps what it
accepts, and an HTTP server that keeps the webhooks it is sent."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    """What the SMTP server accepted; `delay` seconds before each answer to DATA. A message whose
    client has gone by then is refused, as a server that could not acknowledge it must."""

    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)
    started: int = 0  # DATA commands begun

    async def handle_DATA(self, server, session, envelope) -> str:
        import asyncio
        self.started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if server.transport is None or server.transport.is_closing():
            return "451 the client went away"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 60) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} message(s) of {count} after {timeout} s"
            time.sleep(0.05)
        return self.messages


@contextmanager
def smtp_server(delay: float = 0.0) -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1 (no TLS, no login): the mailbox and its port."""
    box = Mailbox(delay)
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Hooks:
    """The webhooks received: (path, headers, raw body); each answered with `status`."""

    status: int = 204
    received: list[tuple[str, dict, bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.received]


@contextmanager
def http_server() -> Iterator[tuple[Hooks, str]]:
    """An HTTP server on 127.0.0.1 that keeps every POST: the record and the server's base URL."""
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hooks.received.append((self.path, dict(self.headers), body))
            self.send_response(hooks.status)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
