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
SPARKPLUG_REBIRTH_REQUESTS = Counter(
    "openmes_sparkplug_rebirth_requests_total",
    "Rebirth requests the Sparkplug host sent (seq gaps past the reorder timeout, data before birth, unknown aliases)",
    ["node"],
)
SOURCE_REJECTS = Counter(
    "openmes_acquisition_source_rejects_total",
    "Machine data a source could not turn into a value (malformed JSON, selector miss, bad OPC UA status, ...)",
    ["source", "subscription", "reason"],
)
SOURCE_CONNECTED = Gauge(
    "openmes_acquisition_source_connected", "1 while a machine data source is connected", ["source", "endpoint"]
)
INGEST_SAMPLES = Counter("openmes_ingest_samples_total", "Machine samples the ingest pipeline committed")
INGEST_UNMAPPED = Counter("openmes_ingest_unmapped_samples_total", "Samples whose source address no tag maps")
INGEST_UNREADABLE = Counter(
    "openmes_ingest_unreadable_samples_total", "Mapped samples whose value the role cannot read", ["role"]
)
INGEST_BATCHES = Counter("openmes_ingest_batches_total", "Ingest batches committed")
INGEST_FAILED_BATCHES = Counter("openmes_ingest_failed_batches_total", "Ingest batch commits that failed")
INGEST_COMMIT_SECONDS = Histogram(
    "openmes_ingest_batch_commit_seconds",
    "Time to process and commit one ingest batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
INGEST_QUEUE_DEPTH = Gauge("openmes_ingest_queue_depth", "Samples waiting in the ingest queue")
INGEST_LAG_SECONDS = Histogram(
    "openmes_ingest_lag_seconds",
    "From the oldest sample's timestamp in a batch to the batch's commit",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
