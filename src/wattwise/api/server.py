"""Serve an app with uvicorn on a background thread (``serve``, the demo, tests, benchmarks).

The socket is bound here, before anything else starts, so a busy port is a one-line
error rather than a server that runs on without its API. uvicorn runs with its
proxy-header rewriting off: ``scope["client"]`` stays the TCP peer, and
:mod:`wattwise.api.auth` alone decides what a forwarded header is worth.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from wattwise.errors import ConfigError


@dataclass
class BackgroundServer:
    """A running uvicorn server; ``url`` is its base address. ``stop()`` ends it."""

    server: Any
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)


@dataclass(frozen=True)
class Listener:
    """A listening socket and the ``host`` it was asked for (a name stays a name)."""

    sock: socket.socket
    host: str

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])


def bind_listener(host: str, port: int) -> Listener:
    """``host:port`` bound and listening; a busy or bad address is a one-line ConfigError."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as err:
        raise ConfigError(
            f"cannot listen on {host}:{port}: unknown host ({err.strerror})",
            hint="give --host an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        ) from None
    family, kind, proto, _, address = infos[0]
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every small response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, not a listener
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        hints = {
            errno.EADDRINUSE: "another program (a second `wattwise serve`?) has it: stop it "
            "or choose another --port",
            errno.EACCES: "ports below 1024 need privilege: choose another --port",
            errno.EADDRNOTAVAIL: "that address is not on this machine: use --host 127.0.0.1 "
            "or 0.0.0.0",
        }
        raise ConfigError(
            f"cannot listen on {host}:{port}: {err.strerror or err}",
            hint=hints.get(err.errno or 0, "check --host and --port"),
        ) from None
    return Listener(sock, host)


def uvicorn_server(app: Any) -> Any:
    """The uvicorn server for ``app``: proxy headers off (see the module docstring)."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", proxy_headers=False, server_header=False
    )
    return uvicorn.Server(config)


def start_in_thread(app: Any, listener: Listener) -> BackgroundServer:
    """Serve ``app`` on ``listener`` from a daemon thread; returns once it answers."""
    sock, host, bound = listener.sock, listener.host, listener.port
    server = uvicorn_server(app)
    # uvicorn installs no signal handlers off the main thread, so Ctrl-C stays with the caller.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="wattwise-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise ConfigError(f"the API server did not start on {host}:{bound}")
    return BackgroundServer(server, thread, host, bound)


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
    """Bind ``host:port`` (any free port if 0 or if ``port`` is taken) and serve ``app``."""
    try:
        listener = bind_listener(host, port)
    except ConfigError:
        listener = bind_listener(host, 0)
    return start_in_thread(app, listener)


def serve_api(
    listener: Listener,
    store_url: str,
    *,
    nodes_info: Any = None,
    require_token_for_reads: bool = False,
) -> BackgroundServer:
    """``wattwise serve``'s API on ``listener``: the engine's queue in ``store_url``.

    The Host check accepts the host ``listener`` was bound to; ``config.toml`` adds
    trusted proxies, Host names and the token-for-reads rule (the flag can only add it).
    """
    from wattwise.api.app import create_app
    from wattwise.api.auth import ApiSecurity

    security = ApiSecurity.from_config(
        bound_host=listener.host, require_token_for_reads=require_token_for_reads
    )
    app = create_app(store_url, nodes_info=nodes_info, security=security)
    return start_in_thread(app, listener)
