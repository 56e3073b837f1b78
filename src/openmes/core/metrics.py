"""Prometheus metrics, scraped at /metrics: request latencies, outbox depth, deliveries, auth failures."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("openmes_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "openmes_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OUTBOX_DEPTH = Gauge("openmes_outbox_depth", "Events committed but not yet fully delivered")
EVENTS_PUBLISHED = Counter("openmes_events_published_total", "Events acknowledged by the MQTT broker")
HANDLER_FAILURES = Counter("openmes_handler_failures_total", "Failed tries of event handlers", ["handler"])
DEAD_LETTERS = Counter("openmes_dead_letters_total", "Events parked after too many failed tries")
LOGIN_FAILURES = Counter("openmes_login_failures_total", "Refused logins and token checks")
MQTT_CONNECTED = Gauge("openmes_mqtt_connected", "1 while the MQTT broker connection is up")
