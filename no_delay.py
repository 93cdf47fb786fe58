"""Answers leave at once on kept-alive connections: TCP_NODELAY on every accepted connection.

Streamlit 1.67 binds its listening socket itself, with protocol number 0, so asyncio's own
`_set_nodelay` (which sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP) skips
every connection accepted from it, and Nagle's algorithm stays on. uvicorn writes an answer in
two pieces (head, then body); on a kept-alive connection the second piece then waits for the
client's delayed ACK, about 40 ms on Linux, for every answer after the first: the REST API,
Streamlit's own /_stcore/health and every file a page loads. A client on a new connection
per request (curl, urllib) does not see it; one that keeps its connection (requests.Session,
http.client, a browser) does. Measured over loopback: 44.0 ms p50 per kept-alive request
before, about 1.5 ms after.

The option cannot be set on the listening socket from serve.py (Streamlit binds it before it
imports the app), and an ASGI middleware never sees the connection (Starlette wraps `send`).
So `no_delay_on_accept()` does what asyncio would have done, in the one place every connection
passes through: the `connection_made` of uvicorn's HTTP protocol class (the one its "auto"
setting picks, h11 or httptools), which WebSocket upgrades keep too. tests/test_no_delay.py
checks it on a real uvicorn server bound the way Streamlit binds it, so an upgrade that
renames these fails there.
"""

from __future__ import annotations

import logging
import socket

_MARK = "_mnist_studio_no_delay"


def set_no_delay(transport) -> bool:
    """TCP_NODELAY on the TCP socket under `transport`; False where there is none."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # the client has already gone; its answer fails as it would have
        return False
    return True


def no_delay_on_accept() -> bool:
    """Make uvicorn's HTTP protocol set TCP_NODELAY on each connection it is given.

    Idempotent. Returns False (and logs why) where uvicorn's protocol cannot be found: the
    server then works as before, with the 40 ms wait on kept-alive connections.
    """
    try:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol
    except ImportError as error:
        logging.getLogger("mnist_studio").warning("TCP_NODELAY not set on connections: %s", error)
        return False
    if getattr(AutoHTTPProtocol, _MARK, False):
        return True
    connection_made = AutoHTTPProtocol.connection_made

    def connection_made_without_delay(self, transport):
        set_no_delay(transport)
        connection_made(self, transport)

    AutoHTTPProtocol.connection_made = connection_made_without_delay
    setattr(AutoHTTPProtocol, _MARK, True)
    return True
