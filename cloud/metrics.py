"""The cloud's Prometheus metrics, in a registry per app (no process-global state)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["CloudMetrics", "RequestMetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Latency buckets around the pull goal (p99 <= 20 ms).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class CloudMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "staysync_cloud_request_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.responses = Counter(
            "staysync_cloud_responses",
            "HTTP responses by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.observations = Counter(
            "staysync_cloud_observations_pushed",
            "Observations pushed, new or replayed",
            ["result"],
            registry=self.registry,
        )
        self.profile_reads = Counter(
            "staysync_cloud_profile_reads",
            "Guest profiles served (one per guest per pull or read), by purpose",
            ["purpose"],
            registry=self.registry,
        )
        self.erasures = Counter("staysync_cloud_erasures", "Guests erased", registry=self.registry)
        self.keys_rewrapped = Counter(
            "staysync_cloud_keys_rewrapped",
            "Wrapped data keys replaced by their re-wrapped form in rotations",
            registry=self.registry,
        )


class RequestMetricsMiddleware:
    """Times each request by its route template, and refuses oversized bodies early."""

    def __init__(self, app: ASGIApp, metrics: CloudMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send, self.max_body_bytes)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router puts the matched route into the scope; an unmatched path is one
            # label, not one per path tried.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = str(scope.get("method", ""))
            self.metrics.request_seconds.labels(method, route).observe(time.perf_counter() - start)
            self.metrics.responses.labels(method, route, str(status)).inc()


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
