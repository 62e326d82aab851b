"""Real servers on this machine for the tests: an SMTP server (aiosmtpd) that keeps what it
accepts, an HTTP server that keeps the webhooks it is sent, and one that plays a platform's API."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

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


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 from a thread: the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def http_server() -> Iterator[tuple[Hooks, str]]:
    """An HTTP server on 127.0.0.1 that keeps every POST: the record and the server's base URL."""
    hooks = Hooks()

    class Handler(_Quiet):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hooks.received.append((self.path, dict(self.headers), body))
            self.send_response(hooks.status)
            self.end_headers()

    with _serving(Handler) as base:
        yield hooks, base


@dataclass
class Api:
    """A platform's API played back: `handle(path, query, headers)` gives (status, headers, body) (a
    POST's form fields come as its query);
    `faults` answers the next requests of a path in place of it, one each (a 429, a 500, bad JSON…);
    `seen` keeps every request (path, query, headers)."""

    handle: Callable[[str, dict[str, str], dict[str, str]], tuple[int, dict[str, str], bytes]]
    faults: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.seen]


def answer(doc: object, status: int = 200, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A JSON answer."""
    return status, {"Content-Type": "application/json", **headers}, json.dumps(doc).encode()


@contextmanager
def api_server(handle) -> Iterator[tuple[Api, str]]:
    """An HTTP server on 127.0.0.1 answering GET and POST requests through `handle` (see Api): the record
    and the server's base URL."""
    api = Api(handle)

    class Handler(_Quiet):
        protocol_version = "HTTP/1.1"  # keep-alive, as the platforms' servers
        disable_nagle_algorithm = True  # headers and body go in two writes: no delayed-ACK wait between

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path, _, query = self.path.partition("?")
            if self.command == "POST":  # a form: its fields as the query's
                query = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            params, headers = dict(parse_qsl(query)), dict(self.headers)
            api.seen.append((path, params, headers))
            faults = api.faults.get(path)
            status, extra, body = faults.pop(0) if faults else api.handle(path, params, headers)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **extra}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815 (http.server's name)

    with _serving(Handler) as base:
        yield api, base
