"""Limits on Streamlit's upload endpoint: a Starlette middleware that serve.py puts in front of it.

Why it is needed (Streamlit 1.67): a file uploader's files reach the server through
`PUT /_stcore/upload_file/<session-id>/<file-id>`, which any visitor can call with the session
id and XSRF token of their own browser tab. Streamlit checks only that the session is
connected and that one file is within `server.maxUploadSize`; the file id is the caller's
choice, and every file is kept as bytes in memory (`MemoryUploadedFileManager`), with no
limit on their number. They are dropped only when a session shuts down, and a session whose
tab was closed is kept for reconnecting (`server.disconnectedSessionTTL`) and then forgotten
without being shut down, so its files stay for the life of the process.

`UploadGuard` sees every request before Streamlit does and lets others through untouched.
For uploads (`UploadLedger` keeps the books; all of it runs on the server's event loop):
  * size: a body larger than the file limit plus its multipart framing is refused with 413
    before it is read (by its Content-Length) or as soon as it grows past it;
  * rate: at most so many uploads a minute per session and per client address (429);
  * bytes held: each session keeps only its latest upload (the Draw page has one
    single-file uploader), older ones are removed from Streamlit's store; an address may
    hold so many bytes at once (429), everyone together so many (503);
  * release: the files of a session that has been gone for `release_after_s` are removed
    (checked at each upload and every `SWEEP_EVERY_S`, see `sweep_periodically`), and the
    freed memory is handed back to the system (`return_freed_memory`).
Each refusal is one line of plain text, with `Retry-After` when waiting helps.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from starlette.exceptions import HTTPException

_log = logging.getLogger(__name__)

MB = 1024 * 1024

# The demo's numbers. A visitor picks a picture, then reads what the model makes of it:
# a few seconds each, so 10 uploads a minute is more than a person does (a refused one can
# be tried again once the minute has passed). 30 a minute per address leaves room for a
# few people behind one office router or proxy.
WINDOW_S = 60.0
UPLOADS_PER_SESSION = 10
UPLOADS_PER_CLIENT = 30
# The Draw page has one single-file uploader: a session needs its latest upload only (the
# browser itself asks for the previous one to be deleted when a picture is replaced).
FILES_KEPT_PER_SESSION = 1
# What uploads may hold in memory at once: 8 full-size (2 MB) pictures per address (8 tabs,
# or people behind one address), 64 for everyone. A photo of a digit is usually 0.1-1 MB.
BYTES_HELD_PER_CLIENT = 16 * MB
BYTES_HELD_TOTAL = 128 * MB
# Around the file, a multipart body carries a boundary and the part's headers (file name,
# type): a few hundred bytes from a browser. Bodies over the file limit plus this are
# refused unread; Streamlit's own check (server.maxUploadSize) then applies the exact limit.
MULTIPART_FRAMING_BYTES = 64 * 1024
# A refused upload's body is read (and dropped) so that the browser sees the answer: up to
# the size limit, or this much where there is none; past it the connection is closed.
DRAIN_LIMIT_BYTES = 8 * MB
# How often released files are looked for when no upload comes in.
SWEEP_EVERY_S = 30.0

_UPLOAD_PATH = re.compile(r"/_stcore/upload_file/([^/]+)/([^/]+)$")


@dataclass(frozen=True)
class UploadLimits:
    """What the guard enforces. None switches a limit off (Streamlit's own checks remain)."""

    max_file_bytes: int | None = None
    uploads_per_session: int | None = None  # per window_s
    uploads_per_client: int | None = None  # per window_s
    window_s: float = WINDOW_S
    files_kept_per_session: int = FILES_KEPT_PER_SESSION  # at least 1
    bytes_held_per_client: int | None = None
    bytes_held_total: int | None = None
    release_after_s: float = 120.0  # a session gone this long loses its files

    @classmethod
    def demo(cls, max_file_mb: int, release_after_s: float = 120.0) -> UploadLimits:
        """The hosted demo's limits, files up to `max_file_mb` megabytes."""
        return cls(
            max_file_bytes=max_file_mb * MB,
            uploads_per_session=UPLOADS_PER_SESSION,
            uploads_per_client=UPLOADS_PER_CLIENT,
            bytes_held_per_client=BYTES_HELD_PER_CLIENT,
            bytes_held_total=BYTES_HELD_TOTAL,
            release_after_s=release_after_s,
        )

    @property
    def max_body_bytes(self) -> int | None:
        if self.max_file_bytes is None:
            return None
        return self.max_file_bytes + MULTIPART_FRAMING_BYTES


class UploadStore(Protocol):
    """Where the uploaded files live (Streamlit's uploaded-file manager, or a test's fake)."""

    def session_exists(self, session_id: str) -> bool: ...

    def remove_file(self, session_id: str, file_id: str) -> None: ...

    def remove_session_files(self, session_id: str) -> None: ...


class StreamlitStore:
    """Streamlit's in-memory uploads, reached through the running `Runtime`."""

    @staticmethod
    def _runtime():
        from streamlit import runtime

        return runtime.get_instance() if runtime.exists() else None

    def session_exists(self, session_id: str) -> bool:
        rt = self._runtime()
        return rt is None or rt.is_active_session(session_id)  # no runtime: release nothing

    def remove_file(self, session_id: str, file_id: str) -> None:
        rt = self._runtime()
        # remove_file is MemoryUploadedFileManager's (the manager st.App uses), not the protocol's
        remove = getattr(rt.uploaded_file_mgr, "remove_file", None) if rt else None
        if remove is not None:
            remove(session_id, file_id)

    def remove_session_files(self, session_id: str) -> None:
        rt = self._runtime()
        if rt is not None:
            rt.uploaded_file_mgr.remove_session_files(session_id)


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    retry_after_s: float | None = None


@dataclass
class _Held:
    size: int
    client: str


@dataclass
class UploadLedger:
    """The books behind `UploadGuard`: recent uploads, what each session and address holds.

    Not thread-safe: the guard and `sweep_periodically` both run on the server's event loop.
    """

    limits: UploadLimits
    store: UploadStore
    clock: Callable[[], float] = time.monotonic
    files: dict[str, OrderedDict[str, _Held]] = field(default_factory=dict)
    held_by_client: dict[str, int] = field(default_factory=dict)
    held: int = 0
    recent: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    gone_since: dict[str, float] = field(default_factory=dict)

    # -- an upload's way through: check_in, then check_out (whatever happened in between)

    def check_in(self, session_id: str, client: str, incoming: int) -> Refusal | None:
        """Admit an upload of about `incoming` bytes (reserved until check_out), or refuse it."""
        now = self.clock()
        limits = self.limits
        windows = [
            (("client", client), limits.uploads_per_client, "from your address"),
            (("session", session_id), limits.uploads_per_session, "from this session"),
        ]
        for key, limit, whose in windows:
            wait = wait_s(self._window(key, now), limit, limits.window_s, now)
            if wait is not None:
                return Refusal(
                    429,
                    f"Upload refused: more than {limit} uploads a minute {whose} in this demo; "
                    f"try again in {wait} s.",
                    wait,
                )
        # The session's older files go once this one is stored: they do not count against it.
        releasable = self._releasable(session_id)
        freed = sum(h.size for h in releasable)
        freed_here = sum(h.size for h in releasable if h.client == client)
        per_client = limits.bytes_held_per_client
        if per_client is not None:
            after = self.held_by_client.get(client, 0) - freed_here + incoming
            if after > per_client:
                return Refusal(
                    429,
                    f"Upload refused: uploads from your address already hold "
                    f"{per_client / MB:.3g} MB in this demo; close other tabs or try again "
                    f"in a few minutes.",
                    limits.release_after_s,
                )
        total = limits.bytes_held_total
        if total is not None and self.held - freed + incoming > total:
            return Refusal(
                503,
                "Upload refused: the demo holds as many uploads as it can right now; "
                "try again in a minute.",
                60,
            )
        for key, limit, _ in windows:
            if limit is not None:
                self._window(key, now).append(now)
        self._hold(client, incoming)
        return None

    def check_out(
        self, session_id: str, file_id: str, client: str, reserved: int, stored: int | None
    ) -> int:
        """Give back the reservation; `stored` is the size Streamlit now holds, or None.
        Returns how many older files of the session were removed."""
        self._hold(client, -reserved)
        if stored is None:
            return 0
        session_files = self.files.setdefault(session_id, OrderedDict())
        previous = session_files.pop(file_id, None)
        if previous is not None:  # the same file id again: Streamlit replaced it
            self._hold(previous.client, -previous.size)
        session_files[file_id] = _Held(stored, client)
        self._hold(client, stored)
        older = list(session_files)[: -self.limits.files_kept_per_session]
        for old_id in older:
            self.store.remove_file(session_id, old_id)
            self._forget(session_id, old_id)
        return len(older)

    def deleted(self, session_id: str, file_id: str) -> None:
        """Streamlit removed a file on the browser's request (a picture taken out or replaced)."""
        self._forget(session_id, file_id)

    # -- releasing what nobody holds any more

    def sweep(self) -> int:
        """Release the files of sessions gone for `release_after_s`; drop idle books. Returns
        the number of sessions released."""
        now = self.clock()
        released = 0
        for session_id in list(self.files):
            if self.store.session_exists(session_id):
                self.gone_since.pop(session_id, None)
                continue
            since = self.gone_since.setdefault(session_id, now)
            if now - since >= self.limits.release_after_s:
                self.store.remove_session_files(session_id)
                for file_id in list(self.files.get(session_id, ())):
                    self._forget(session_id, file_id)
                self.gone_since.pop(session_id, None)
                released += 1
        for session_id in [s for s in self.gone_since if s not in self.files]:
            del self.gone_since[session_id]
        for key in list(self.recent):
            if not self._window(key, now):
                del self.recent[key]
        return released

    # -- bookkeeping

    def _window(self, key: tuple[str, str], now: float) -> deque[float]:
        return recent_times(self.recent, key, now, self.limits.window_s)

    def _releasable(self, session_id: str) -> list[_Held]:
        held = list(self.files.get(session_id, {}).values())
        keep = self.limits.files_kept_per_session - 1  # the incoming file is one of the kept
        return held[: len(held) - keep] if keep > 0 else held

    def _hold(self, client: str, size: int) -> None:
        self.held += size
        now_held = self.held_by_client.get(client, 0) + size
        if now_held > 0:
            self.held_by_client[client] = now_held
        else:
            self.held_by_client.pop(client, None)

    def _forget(self, session_id: str, file_id: str) -> None:
        session_files = self.files.get(session_id)
        if session_files is None:
            return
        gone = session_files.pop(file_id, None)
        if gone is not None:
            self._hold(gone.client, -gone.size)
        if not session_files:
            del self.files[session_id]


class UploadGuard:
    """ASGI middleware (`st.App(middleware=[Middleware(UploadGuard, ledger=...)])`)."""

    def __init__(self, app, ledger: UploadLedger) -> None:
        self.app = app
        self.ledger = ledger

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            found = _UPLOAD_PATH.search(scope.get("path", ""))
            if found is not None and scope["method"] == "PUT":
                return await self._put(scope, receive, send, *found.groups())
            if found is not None and scope["method"] == "DELETE":
                return await self._delete(scope, receive, send, *found.groups())
        await self.app(scope, receive, send)

    async def _put(self, scope, receive, send, session_id: str, file_id: str) -> None:
        ledger = self.ledger
        ledger.sweep()
        max_body = ledger.limits.max_body_bytes
        too_large = _too_large(ledger.limits)
        length = _content_length(scope)
        if max_body is not None and length is not None and length > max_body:
            return await _answer(send, 413, too_large, close=True)  # unread, as Streamlit does
        client = _client_of(scope)
        reserved = length if length is not None else (max_body or 0)
        refusal = ledger.check_in(session_id, client, reserved)
        if refusal is not None:
            # Read the body (at most the limit) so that the browser gets the answer, not a reset.
            drained = await _drain(receive, DRAIN_LIMIT_BYTES if max_body is None else max_body)
            return await _answer(
                send, refusal.status, refusal.reason, refusal.retry_after_s, close=not drained
            )

        received = 0
        status = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if max_body is not None and received > max_body:
                    # Raised inside Streamlit's handler: Starlette answers it as a 413.
                    raise HTTPException(413, too_large, headers={"Connection": "close"})
            return message

        async def watched(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, counted, watched)
        finally:
            stored = received if 200 <= status < 300 else None
            if ledger.check_out(session_id, file_id, client, reserved, stored):
                return_freed_memory()

    async def _delete(self, scope, receive, send, session_id: str, file_id: str) -> None:
        status = 0

        async def watched(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        if 200 <= status < 300:
            self.ledger.deleted(session_id, file_id)


def recent_times(recent: dict, key, now: float, window_s: float) -> deque[float]:
    """`recent[key]`: the times of its events in the last `window_s` seconds (a sliding
    window; older times are dropped here)."""
    times = recent.setdefault(key, deque())
    while times and times[0] <= now - window_s:
        times.popleft()
    return times


def wait_s(times: deque[float], limit: int | None, window_s: float, now: float) -> int | None:
    """None when one more event fits `limit` in the window `times` holds, else the whole
    seconds (at least 1) until one does."""
    if limit is None or len(times) < limit:
        return None
    return max(1, math.ceil(times[0] + window_s - now))


async def sweep_periodically(ledger: UploadLedger, every_s: float = SWEEP_EVERY_S) -> None:
    """Run `ledger.sweep()` every `every_s` seconds until cancelled (serve.py's lifespan)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if ledger.sweep():
                return_freed_memory()
        except Exception:  # a fault here must not stop the sweeping, nor the server
            _log.exception("Releasing uploads failed")


# --------------------------------------------------------------------------- helpers


def _too_large(limits: UploadLimits) -> str:
    if limits.max_file_bytes is None:
        return "Upload refused: too large."
    return f"Upload refused: larger than this demo's limit of {limits.max_file_bytes / MB:g} MB."


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


def _client_of(scope) -> str:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For there)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _drain(receive, limit: int) -> bool:
    """Read and drop the request body, at most `limit` bytes; True if it was read to its end."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return seen <= limit
    return False


async def _answer(
    send, status: int, reason: str, retry_after_s: float | None = None, close: bool = False
) -> None:
    body = (reason + "\n").encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(math.ceil(retry_after_s)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_trim = None


def return_freed_memory() -> None:
    """Hand freed heap memory back to the system (glibc's malloc_trim; elsewhere nothing).

    Files of a megabyte or two are allocated from the heap once glibc has raised its mmap
    threshold, and free()d heap pages in the middle of it stay in the process's RSS.
    """
    global _trim
    if _trim is None:
        _trim = False
        with contextlib.suppress(OSError, AttributeError, TypeError):
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    if _trim:
        _trim(0)
