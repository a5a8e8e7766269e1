"""Request limits: body size (413), bounded concurrency (503) and request timeouts (504).

Body size cap: 413 with a typed body, for declared and streamed bodies alike.

A ``Content-Length`` above the cap is refused before the app runs. Bodies without one
(chunked) are counted as they stream in; once the count passes the cap, reading raises
:class:`BodyTooLarge` (an HTTP exception, so FastAPI passes it through to the typed handler)
and, if the app has not started answering yet, this middleware answers 413 itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reclift.serving.errors import error_response
from reclift.serving.metrics import ServiceMetrics

log = logging.getLogger("reclift.serving")


class BodyTooLarge(HTTPException):
    """The request body passed the configured cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """ASGI middleware enforcing ``max_bytes`` on every HTTP request body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await error_response(400, "bad_request", "invalid Content-Length")(
                        scope, receive, send
                    )
                    return
                if declared > limit:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "body_too_large",
            f"request body larger than {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _exempt(scope: Scope, prefixes: tuple[str, ...]) -> bool:
    path = str(scope.get("path", ""))
    return any(path.startswith(p) if p.endswith("/") else path == p for p in prefixes)


PENDING_KEY = "reclift.pending"
"""Scope key under which :class:`TimeoutMiddleware` leaves work still running after a 504."""

OPS_PATHS = ("/health/", "/metrics")
"""Paths never queued, limited or timed out: operators must see an overloaded server."""


class _Gate:
    """At most ``limit`` holders; at most ``queue`` waiters, served first come first served.

    Only touched from the event loop's thread, so plain counters need no lock. Waiters are
    futures created on the running loop when needed (never at construction), so one app can
    be served by several loops in turn (tests).
    """

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting up to ``timeout`` seconds; ``False`` when refused."""
        if self.active < self.limit and not self.waiters:
            self.active += 1
            return True
        if len(self.waiters) >= self.queue:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            if waiter.done():
                return True  # the slot was handed over just as the wait ended: keep it
            self._forget(waiter)
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over, but nobody will use it
            else:
                self._forget(waiter)
            raise
        return True

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    def release(self) -> None:
        """Free a slot, handing it to the oldest live waiter if any."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: ``active`` is unchanged
                return
        self.active -= 1


class ConcurrencyLimitMiddleware:
    """Bounded concurrency: ``max_concurrent`` requests run, ``max_queued`` wait, others 503.

    A request that waits longer than ``queue_timeout`` also answers 503 ``overloaded``
    with ``Retry-After``, so an overloaded server sheds load quickly instead of piling up
    connections. A request keeps its slot until the app has finished with it, even when a
    timeout already answered the client, so the bound is the real amount of work in
    progress. :data:`OPS_PATHS` bypass the limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_concurrent: int,
        max_queued: int,
        queue_timeout: float,
        metrics: ServiceMetrics | None = None,
        retry_after: int = 1,
    ) -> None:
        self.app = app
        self.gate = _Gate(max_concurrent, max_queued)
        self.queue_timeout = queue_timeout
        self.metrics = metrics
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope, OPS_PATHS):
            await self.app(scope, receive, send)
            return
        queue_full = len(self.gate.waiters) >= self.gate.queue
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        admitted = False
        try:
            admitted = await self.gate.acquire(self.queue_timeout)
            if admitted:
                await self.app(scope, receive, send)
            else:
                await self._refuse(scope, receive, send, queue_full)
        finally:
            pending: asyncio.Future[None] | None = scope.get(PENDING_KEY)
            if pending is not None and not pending.done():
                # Answered by a timeout but still working: free the slot when it ends.
                pending.add_done_callback(lambda _t: self._done(admitted))
            else:
                self._done(admitted)

    def _done(self, admitted: bool) -> None:
        if admitted:
            self.gate.release()
        if self.metrics is not None:
            self.metrics.in_flight.dec()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, queue_full: bool) -> None:
        reason = "queue_full" if queue_full else "queue_timeout"
        if self.metrics is not None:
            self.metrics.rejected.labels(reason).inc()
        response = error_response(
            503,
            "overloaded",
            "the server is busy; retry later",
            {"reason": reason},
            headers={"Retry-After": str(self.retry_after)},
        )
        await response(scope, receive, send)


class TimeoutMiddleware:
    """Answer 504 ``timeout`` when the app has not started its answer in ``seconds``.

    The app keeps running to its end in the background (a route running in a worker thread
    cannot be interrupted); what it sends afterwards is dropped. :data:`OPS_PATHS` are
    exempt. Place it directly inside :class:`ConcurrencyLimitMiddleware`, which keeps the
    slot of such late work until it ends (the task is left in the scope under
    :data:`PENDING_KEY`).
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope, OPS_PATHS):
            await self.app(scope, receive, send)
            return
        started = False
        abandoned = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.seconds)
        except asyncio.CancelledError:
            # We are cancelled (shutdown): the work still runs and keeps its slot.
            abandoned = True
            scope[PENDING_KEY] = task
            task.add_done_callback(_log_late_failure)
            raise
        if done or started:
            # Finished, or already streaming its answer: let it end normally.
            await task
            return
        abandoned = True
        task.add_done_callback(_log_late_failure)
        response = error_response(
            504,
            "timeout",
            f"the request took longer than {self.seconds:g} s",
            {"timeout_seconds": self.seconds},
        )
        # The work goes on in the background; the concurrency limit frees its slot when the
        # task ends, so abandoned work still counts against the bound.
        scope[PENDING_KEY] = task
        await response(scope, receive, send)


def _log_late_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a request that timed out failed later: %r", task.exception())
