"""The per-request metrics are kept in plain counters and exposed at scrape time; a scraper must see
exactly what prometheus_client's own counters and histograms of the same names would show, bucket
boundaries included."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from modelrunner.server.metrics import _LATENCY_BUCKETS_S, RequestMetrics

CREATED_VALUE = re.compile(rb"^(\S+_created\{[^}]*\}|\S+_created) \S+$", re.MULTILINE)


def without_creation_times(exposition: bytes) -> bytes:
    return CREATED_VALUE.sub(rb"\1 <time>", exposition)


def test_the_exposition_is_prometheus_clients_own() -> None:
    ours = RequestMetrics()
    ours_registry = CollectorRegistry()
    ours_registry.register(ours)
    reference = CollectorRegistry()
    requests = Counter("modelrunner_requests", "HTTP requests", ["route", "status", "model"], registry=reference)
    tokens = Counter("modelrunner_tokens", "Tokens processed", ["model", "kind"], registry=reference)
    first_token = Histogram("modelrunner_time_to_first_token_seconds", "From request to the first streamed event",
                            ["model"], buckets=_LATENCY_BUCKETS_S, registry=reference)
    duration = Histogram("modelrunner_request_duration_seconds", "From request to the last byte of the answer",
                         ["route", "model"], buckets=_LATENCY_BUCKETS_S, registry=reference)

    # On a bound, just past it, below the first, above the last: each bucket edge as Prometheus puts it.
    for seconds in (0.005, 0.0050001, 0.001, 0.25, 299.9, 300.0, 301.0, 0.0):
        for route, model in (("/v1/messages", "ai/one"), ("/api/chat", "ai/two")):
            ours.requests.inc((route, "200", model))
            requests.labels(route, "200", model).inc()
            ours.request_duration.observe((route, model), seconds)
            duration.labels(route, model).observe(seconds)
        ours.time_to_first_token.observe(("ai/one",), seconds / 2)
        first_token.labels("ai/one").observe(seconds / 2)
    ours.requests.inc(("/v1/messages", "404", "unknown"))
    requests.labels("/v1/messages", "404", "unknown").inc()
    ours.tokens.inc(("ai/one", "generated"), 8)
    tokens.labels("ai/one", "generated").inc(8)

    expected = without_creation_times(generate_latest(reference))
    assert b'le="0.005",model="ai/one",route="/v1/messages"} 3.0' in expected  # 0, 0.001 and 0.005 itself
    assert without_creation_times(generate_latest(ours_registry)) == expected


def test_nothing_recorded_shows_the_families_empty() -> None:
    registry = CollectorRegistry()
    registry.register(RequestMetrics())
    text = generate_latest(registry).decode()
    assert "# TYPE modelrunner_requests_total counter" in text
    assert "# TYPE modelrunner_request_duration_seconds histogram" in text
    assert "modelrunner_requests_total{" not in text
