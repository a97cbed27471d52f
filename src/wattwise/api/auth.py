"""The API token: generated on first start, kept at ``$WATTWISE_HOME/api_token`` (0600).

Every write, and every read from outside loopback, must carry it as
``Authorization: Bearer <token>``: missing gives 401, wrong gives 403.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

TOKEN_FILE = "api_token"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def load_or_create_token(home: Path) -> str:
    """Read the token, creating it with mode 0600 if absent. Refuses a world-readable file."""
    path = home / TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Tighten a token file someone loosened: it guards writes to the store.
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return host in _LOOPBACK or host.startswith("127.")


def check_token(request: Request, token: str) -> None:
    """Raise 401/403 unless the request may pass (safe read from loopback, or right token)."""
    if request.method in _SAFE_METHODS and is_loopback(request):
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(
            status_code=401,
            detail="missing API token: send 'Authorization: Bearer <token>' "
            "(the token is in $WATTWISE_HOME/api_token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(status_code=403, detail="wrong API token")
