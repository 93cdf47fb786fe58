"""no_delay: every connection uvicorn accepts gets TCP_NODELAY, on a socket bound as Streamlit
binds it (protocol number 0, which asyncio's own TCP_NODELAY skips)."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest
import uvicorn

from no_delay import no_delay_on_accept, set_no_delay


async def _app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server():
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as Streamlit's
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    listening.setblocking(False)
    config = uvicorn.Config(_app, lifespan="off", log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running.started
    yield running, listening.getsockname()[1]
    running.should_exit = True
    thread.join(timeout=10)
    listening.close()


def _server_side_no_delay(running) -> list[int]:
    return [
        protocol.transport.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY
        )
        for protocol in list(running.server_state.connections)
    ]


def test_connections_accepted_from_a_proto_0_socket_get_tcp_nodelay(server):
    assert no_delay_on_accept()
    assert no_delay_on_accept()  # a second call changes nothing
    running, port = server
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):  # kept alive: one connection for all three
        client.request("GET", "/")
        assert client.getresponse().read() == b"ok"
    assert _server_side_no_delay(running) == [1]
    client.close()


def test_set_no_delay_on_a_tcp_socket_and_not_on_others():
    class Transport:
        def __init__(self, sock):
            self.sock = sock

        def get_extra_info(self, name):
            return self.sock if name == "socket" else None

    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unix_a, unix_b = socket.socketpair(socket.AF_UNIX)
    try:
        assert set_no_delay(Transport(tcp))
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert not set_no_delay(Transport(unix_a))
        assert not set_no_delay(Transport(None))
    finally:
        for sock in (tcp, unix_a, unix_b):
            sock.close()
