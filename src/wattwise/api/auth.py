"""Who may call the API: the token, the loopback rule, trusted proxies and the Host check.

The security model (README "API", ARCHITECTURE ``api/auth.py``):

- Every write, and every read not from this machine, carries the token from
  ``$WATTWISE_HOME/api_token`` as ``Authorization: Bearer <token>``: missing gives 401,
  wrong gives 403. ``require_token_for_reads`` asks for it on every read too.
- "From this machine" is decided from the socket's peer address, parsed as an IP
  (``is_loopback``); names such as ``localhost`` or ``127.evil.com`` never pass. A request
  that carries forwarding headers came through a proxy, so it is not treated as local
  unless its peer is a configured trusted proxy, whose ``X-Forwarded-For`` then names
  the client (read right to left, skipping trusted hops).
- The ``Host`` header must be an IP literal, a loopback name, the bound host, this
  machine's name (when bound beyond loopback) or a configured name; anything else is 400,
  so a page on another site cannot read the API through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

TOKEN_FILE = "api_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Headers a proxy adds; their presence means the socket's peer is not the client.
_FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ApiSecurity:
    """How the API decides who may read without the token and which Host names it answers.

    ``trusted_proxies``: networks whose ``X-Forwarded-For`` is believed. ``allowed_hosts``:
    names accepted in ``Host`` beyond IP literals and loopback names (``"*"``: any).
    ``bound_host``: the address the server listens on (accepted as a Host name).
    """

    require_token_for_reads: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    bound_host: str | None = None

    @classmethod
    def from_config(
        cls, *, bound_host: str | None = None, require_token_for_reads: bool = False
    ) -> ApiSecurity:
        """The settings from ``config.toml``; ``require_token_for_reads`` adds to the file's."""
        from wattwise.config import load_config, parse_networks

        cfg = load_config()
        return cls(
            require_token_for_reads=require_token_for_reads
            or bool(cfg.api_require_token_for_reads),
            trusted_proxies=parse_networks(cfg.api_trusted_proxies or ()),
            allowed_hosts=tuple(h.lower().rstrip(".") for h in cfg.api_allowed_hosts or ()),
            bound_host=bound_host,
        )

    def host_names(self) -> frozenset[str]:
        """Every name (not IP literal) the Host header may carry."""
        names = {*_LOOPBACK_NAMES, *self.allowed_hosts}
        if self.bound_host:
            bound = self.bound_host.lower().rstrip(".")
            names.add(bound)
            bound_ip = _parse_ip(bound)
            if bound_ip is None or not bound_ip.is_loopback:
                # Bound beyond loopback: browsers elsewhere reach it by this machine's name.
                names.add(socket.gethostname().lower())
        return frozenset(names)


def load_or_create_token(home: Path) -> str:
    """Read the token, creating it with mode 0600 if absent. Refuses a world-readable file."""
    from wattwise.config import private_dir

    path = home / TOKEN_FILE
    private_dir(home)
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


def _parse_ip(text: str) -> IPAddress | None:
    """An IP from a peer or forwarded entry (``[::1]``, ``::ffff:127.0.0.1`` too); else None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def _header_values(scope: Mapping[str, Any], name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]


def client_ip(scope: Mapping[str, Any], security: ApiSecurity) -> IPAddress | None:
    """The client's IP: the socket's peer, or what a trusted proxy forwarded. None: unknown.

    The server runs without uvicorn's proxy-header rewriting (``api/server.py``), so
    ``scope["client"]`` is the peer of the TCP connection.
    """
    client = scope.get("client")
    peer = _parse_ip(str(client[0])) if client else None
    if peer is None:
        return None
    forwarded = [name for name in _FORWARDING_HEADERS if _header_values(scope, name)]
    if not forwarded:
        return peer
    if not _trusted(peer, security.trusted_proxies) or forwarded != [b"x-forwarded-for"]:
        return None  # proxied through something not trusted: the origin is unknown
    hops = [h for v in _header_values(scope, b"x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        ip = _parse_ip(hop)
        if ip is None:
            return None
        if not _trusted(ip, security.trusted_proxies):
            return ip
    first = _parse_ip(hops[0]) if hops else None
    return first or peer


def is_loopback(request: Request, security: ApiSecurity | None = None) -> bool:
    """Whether the request comes from this machine (see the module docstring)."""
    ip = client_ip(request.scope, security or ApiSecurity())
    return ip is not None and ip.is_loopback


def check_token(request: Request, token: str, security: ApiSecurity | None = None) -> None:
    """Raise 401/403 unless the request may pass (safe read from loopback, or right token)."""
    security = security or ApiSecurity()
    if (
        request.method in _SAFE_METHODS
        and not security.require_token_for_reads
        and is_loopback(request, security)
    ):
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


def host_of(header: str) -> str:
    """The name in a Host header, without port, lower case: ``[::1]:8787`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def host_allowed(header: str | None, security: ApiSecurity) -> bool:
    """Whether a Host header may be answered. No header (HTTP/1.0): nothing to rebind."""
    if header is None or "*" in security.allowed_hosts:
        return True
    name = host_of(header)
    # An IP literal cannot be rebound: the page's origin is then this server itself.
    return _parse_ip(name) is not None or name in security.host_names()


class HostGuard:
    """ASGI middleware: 400 for a Host header the API does not answer to (DNS rebinding)."""

    def __init__(self, app: Any, security: ApiSecurity) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            values = _header_values(scope, b"host")
            header = values[0] if values else None
            if not host_allowed(header, self.security):
                body = json.dumps(
                    {
                        "detail": f"Host {header!r} is not served here: add it to "
                        "api_allowed_hosts in $WATTWISE_HOME/config.toml"
                    }
                ).encode()
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
