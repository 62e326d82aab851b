"""Deployment settings: environment variables, then `.streamlit/secrets.toml`, then defaults."""
from __future__ import annotations

import base64
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cmcore import passwords
from cmcore.refusal import Told

PROJECT_DIR = Path(__file__).resolve().parent.parent
MIN_COOKIE_KEY_BITS = 128  # estimated by cmcore.passwords.estimated_bits


class ConfigError(Told, RuntimeError):
    """The deployment is misconfigured; the message says what to set."""


NO_KEY = ("production mode needs CM_COOKIE_KEY (or cookie_key in .streamlit/secrets.toml): a random secret of at"
          " least {bits} bits; `./dev cli secret` prints one")
WEAK_KEY = ("production mode needs CM_COOKIE_KEY (or cookie_key in .streamlit/secrets.toml): a random secret of"
            " at least {bits} bits (this one is guessable: a repetition, words or a pattern); `./dev cli secret`"
            " prints one")


@dataclass(frozen=True)
class Settings:
    env: str  # "development" or "production"
    database_url: str | None  # the application role's; None: the embedded PostgreSQL in data_dir
    database_owner_url: str | None  # the owner role's, for migrations (with database_url)
    data_dir: Path
    cookie_key: str
    session_hours: float  # a session's whole life (no renewal): then its user signs in again
    demo_on_empty: bool  # the app seeds a small demo community into an empty database
    smtp: Smtp  # where e-mail goes (no host: files in data_dir/mail)
    app_url: str  # the console's address, for the links in messages
    webhook_key: str  # signs the generic JSON webhooks (HMAC-SHA256)
    connection_key: str | None  # encrypts the connections' secrets (Fernet); None: production without one

    @property
    def production(self) -> bool:
        return self.env == "production"


@dataclass(frozen=True)
class Smtp:
    """An SMTP server's settings; no host: messages are written to files instead."""

    host: str | None = None
    port: int = 587
    tls: str = "starttls"  # "starttls", "ssl" (implicit TLS) or "none"
    user: str | None = None
    password: str | None = None
    sender: str = "Community console <console@localhost>"


def _secrets() -> dict:
    path = PROJECT_DIR / ".streamlit" / "secrets.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {}


def _dev_key(data_dir: Path, name: str = "cookie_key") -> str:
    """A random key kept in the git-ignored data folder: development never runs on a known key
    (the connections' key is a Fernet key: 32 random bytes in URL-safe base64)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() if name == "connection_key"
                        else passwords.new_secret())
        path.chmod(0o600)
    return path.read_text().strip()


def load() -> Settings:
    """Read the settings; in production a missing or weak cookie key is refused."""
    conf = _secrets()
    get = lambda name, default=None: os.environ.get(f"CM_{name.upper()}") or conf.get(name, default)  # noqa: E731
    env = get("env", "development")
    if env not in ("development", "production"):
        raise ConfigError("CM_ENV must be 'development' or 'production', not {value}", value=repr(env))
    data_dir = Path(get("data_dir", PROJECT_DIR / ".data")).resolve()
    key = get("cookie_key")
    if env == "production" and passwords.estimated_bits(key or "") < MIN_COOKIE_KEY_BITS:
        raise ConfigError(WEAK_KEY if key else NO_KEY, bits=MIN_COOKIE_KEY_BITS)
    hours = float(get("session_hours", 12))
    if not 0 < hours <= 24 * 30:
        raise ConfigError("CM_SESSION_HOURS must be more than 0 and at most 720 (30 days), not {hours}", hours=hours)
    return Settings(
        env=env,
        database_url=os.environ.get("DATABASE_URL") or conf.get("database_url"),
        database_owner_url=os.environ.get("DATABASE_OWNER_URL") or conf.get("database_owner_url"),
        data_dir=data_dir,
        cookie_key=key or _dev_key(data_dir),
        session_hours=hours,
        demo_on_empty=str(get("demo_on_empty", "1")).lower() not in ("0", "false", "no"),
        smtp=_smtp(get),
        app_url=str(get("app_url", "http://localhost:8501")).rstrip("/"),
        webhook_key=get("webhook_key") or _dev_key(data_dir, "webhook_key"),
        connection_key=get("connection_key") or (None if env == "production" else _dev_key(data_dir, "connection_key")),
    )


def _smtp(get) -> Smtp:
    """CM_SMTP_HOST, _PORT, _TLS, _USER, _PASSWORD, _FROM (or smtp_host… in secrets.toml)."""
    tls = get("smtp_tls", "starttls")
    if tls not in ("starttls", "ssl", "none"):
        raise ConfigError("CM_SMTP_TLS must be 'starttls', 'ssl' or 'none', not {value}", value=repr(tls))
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[tls]
    return Smtp(host=get("smtp_host"), port=int(get("smtp_port", default_port)), tls=tls, user=get("smtp_user"),
                password=get("smtp_password"), sender=get("smtp_from", Smtp.sender))


@lru_cache(maxsize=1)
def current() -> Settings:
    return load()
