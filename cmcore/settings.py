"""Deployment settings: environment variables, then `.streamlit/secrets.toml`, then defaults."""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MIN_COOKIE_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """The deployment is misconfigured; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    env: str  # "development" or "production"
    database_url: str | None  # the application role's; None: the embedded PostgreSQL in data_dir
    database_owner_url: str | None  # the owner role's, for migrations (with database_url)
    data_dir: Path
    cookie_key: str
    cookie_expiry_days: float
    demo_on_empty: bool  # the app seeds a small demo community into an empty database

    @property
    def production(self) -> bool:
        return self.env == "production"


def _secrets() -> dict:
    path = PROJECT_DIR / ".streamlit" / "secrets.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {}


def _dev_cookie_key(data_dir: Path) -> str:
    """A random key kept in the git-ignored data folder: development never runs on a known key."""
    path = data_dir / "cookie_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load() -> Settings:
    """Read the settings; in production a missing or short cookie key is refused."""
    conf = _secrets()
    get = lambda name, default=None: os.environ.get(f"CM_{name.upper()}") or conf.get(name, default)  # noqa: E731
    env = get("env", "development")
    if env not in ("development", "production"):
        raise ConfigError(f"CM_ENV must be 'development' or 'production', not {env!r}")
    data_dir = Path(get("data_dir", PROJECT_DIR / ".data")).resolve()
    key = get("cookie_key")
    if env == "production" and (not key or len(key) < MIN_COOKIE_KEY_LENGTH):
        raise ConfigError(
            f"production mode needs CM_COOKIE_KEY (or cookie_key in .streamlit/secrets.toml): "
            f"a random secret of at least {MIN_COOKIE_KEY_LENGTH} characters, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return Settings(
        env=env,
        database_url=os.environ.get("DATABASE_URL") or conf.get("database_url"),
        database_owner_url=os.environ.get("DATABASE_OWNER_URL") or conf.get("database_owner_url"),
        data_dir=data_dir,
        cookie_key=key or _dev_cookie_key(data_dir),
        cookie_expiry_days=float(get("cookie_expiry_days", 0.5)),
        demo_on_empty=str(get("demo_on_empty", "1")).lower() not in ("0", "false", "no"),
    )


@lru_cache(maxsize=1)
def current() -> Settings:
    return load()
