"""Connection settings, resolved in the TypeScript SDK's order (packages/sdk/src/config.ts):
the arguments, then PADDOCK_URL and PADDOCK_TOKEN, then the token file of the daemon's data
dir (PADDOCK_DATA_DIR, else /var/lib/paddock)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:7423"
DEFAULT_DATA_DIR = "/var/lib/paddock"


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str | None
    #: Where the token came from, in words; told in an UnauthorizedError's message.
    token_source: str


def token_file_path() -> str:
    """The token file the daemon writes in its data dir."""
    return os.path.join(os.environ.get("PADDOCK_DATA_DIR") or DEFAULT_DATA_DIR, "token")


def resolve_config(url: str | None = None, token: str | None = None) -> ClientConfig:
    base = (url or os.environ.get("PADDOCK_URL") or DEFAULT_URL).rstrip("/")
    if token:
        return ClientConfig(base, token, "the token argument")
    if os.environ.get("PADDOCK_TOKEN"):
        return ClientConfig(base, os.environ["PADDOCK_TOKEN"], "PADDOCK_TOKEN")
    file = token_file_path()
    try:
        with open(file, encoding="utf-8") as f:
            text = f.read().strip()
        if text:
            return ClientConfig(base, text, f"the token file {file}")
        problem = "it is empty"
    except FileNotFoundError:
        problem = "there is none"
    except OSError as err:
        problem = f"it cannot be read: {err.strerror or err}"
    return ClientConfig(
        base,
        None,
        f"no token was sent: none in the token argument or PADDOCK_TOKEN, and the token file {file}: {problem}",
    )
