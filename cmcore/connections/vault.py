"""The connections' secrets (tokens, keys, passwords), encrypted at rest with Fernet (AES-128-CBC and
HMAC-SHA256) under `CM_CONNECTION_KEY`; production refuses to store or read them without that key."""
from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from cmcore import settings
from cmcore.settings import ConfigError

NEW_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


def _fernet() -> Fernet:
    key = settings.current().connection_key
    if not key:
        raise ConfigError("production mode needs CM_CONNECTION_KEY (or connection_key in .streamlit/secrets.toml)"
                          f" to keep the connections' secrets; make one with {NEW_KEY}")
    try:
        return Fernet(key.encode())
    except ValueError:
        raise ConfigError(f"CM_CONNECTION_KEY is not a Fernet key (32 bytes in URL-safe base64); {NEW_KEY}") from None


def seal(secrets: dict[str, str]) -> bytes:
    """`secrets` encrypted (a Fernet token)."""
    return _fernet().encrypt(json.dumps(secrets).encode())


def unseal(token: bytes) -> dict[str, str]:
    """The secrets of a token `seal` made; a token made under another key is refused."""
    try:
        return json.loads(_fernet().decrypt(bytes(token)))
    except InvalidToken:
        raise ConfigError("the connection's secrets were encrypted with another CM_CONNECTION_KEY:"
                          " enter them again") from None
