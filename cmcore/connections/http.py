"""Asking a platform's API: JSON over HTTPS with the faults an API has. A 429 waits as long as its
`Retry-After` says (up to `max_wait`, beyond it the sync stops and the next one waits), a 5xx or a
lost connection is tried again after 1, 2, 4… seconds (bounded), a 401 or 403 is a revoked or
insufficient token, and an answer that is not JSON is a fault. Messages name the address without
its query string or headers: a key never reaches a message or the log."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

TIMEOUT = 30  # seconds per request


class Fault(Exception):
    """The API did not give what was asked: the sync stops, its cursor unchanged."""


class Revoked(Fault):
    """The API refused the credentials (401, 403): a token revoked, expired or lacking a scope."""


class Throttled(Fault):
    """The API asked to wait until `until` (longer than a sync waits in line)."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def _retry_after(value: str | None, now: datetime) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); 1 when absent."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            return 1.0


@dataclass
class Client:
    """One API: its base address, the headers and query parameters every request carries."""

    base: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tries: int = 5  # per request, for 5xx and lost connections
    backoff: float = 1.0  # the first wait after a 5xx, doubled each time
    max_backoff: float = 30.0
    max_wait: float = 120.0  # the longest Retry-After waited for in line
    sleep: Callable[[float], None] = time.sleep
    errors: Callable[[int, Any], None] | None = None  # may raise for an API's own error bodies (status, JSON)
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **params: Any) -> Any:
        """The JSON at `path` (relative to the base, or a full address of the same API)."""
        answer = self.fetch(path, **params)
        try:
            return answer.json()
        except ValueError:
            raise Fault(f"GET {urlsplit(answer.url).path}: the answer is not JSON"
                        f" ({answer.headers.get('Content-Type', 'no type')})") from None

    def fetch(self, path: str, **params: Any) -> requests.Response:
        """The answer at `path` once it is a success (2xx or 3xx followed), the faults handled."""
        url = path if "://" in path else self.base.rstrip("/") + path
        where = urlsplit(url).path
        tried = 0
        while True:
            tried += 1
            try:
                answer = self.session.get(url, params={**self.params, **params}, headers=self.headers,
                                          timeout=TIMEOUT)
            except requests.RequestException as err:
                if tried >= self.tries:
                    raise Fault(f"GET {where}: no answer after {tried} tries ({type(err).__name__})") from None
                self.sleep(min(self.backoff * 2 ** (tried - 1), self.max_backoff))
                continue
            status = answer.status_code
            if status >= 400 and self.errors:
                try:
                    body = answer.json()
                except ValueError:
                    body = None
                self.errors(status, body)
            if status in (401, 403):
                raise Revoked(f"GET {where}: HTTP {status}, the credentials were refused"
                              " (revoked, expired or missing a scope)")
            if status == 429:
                wait = _retry_after(answer.headers.get("Retry-After"), datetime.now(UTC))
                if wait > self.max_wait or tried >= self.tries:
                    raise Throttled(f"GET {where}: HTTP 429, asked to wait {wait:.0f} s",
                                    datetime.now(UTC) + timedelta(seconds=wait))
                self.sleep(wait)
                continue
            if status >= 500:
                if tried >= self.tries:
                    raise Fault(f"GET {where}: HTTP {status} after {tried} tries")
                self.sleep(min(self.backoff * 2 ** (tried - 1), self.max_backoff))
                continue
            if status >= 400:
                raise Fault(f"GET {where}: HTTP {status}")
            return answer
