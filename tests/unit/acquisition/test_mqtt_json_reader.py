"""From MQTT message to samples, without a broker: addresses, values, timestamps and counted rejects."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from openmes.acquisition.mqtt_json import JsonPayloadReader, JsonSubscription, compile_subscriptions
from openmes.acquisition.signals import Sample
from openmes.acquisition.throttled_log import ThrottledLog
from openmes.acquisition.timestamps import datetime_to_ms, epoch_to_ms, iso8601_to_ms
from openmes.core.clock import FixedClock

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
NOW_MS = datetime_to_ms(NOW)


def rejects(template: str, selector: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "openmes_acquisition_source_rejects_total",
        {"source": "mqtt_json", "subscription": f"mqtt:{template}#{selector}", "reason": reason},
    )
    return value or 0.0


@pytest.fixture
def plant() -> str:
    """A topic root of its own, so counters of other tests do not mix in."""
    return f"acme-{uuid4().hex[:8]}"


def reader(*subscriptions: JsonSubscription | tuple[str, str]) -> JsonPayloadReader:
    return JsonPayloadReader(compile_subscriptions(subscriptions), FixedClock(NOW))


def payload(document: object) -> bytes:
    return json.dumps(document).encode()


def test_each_selector_of_a_matching_topic_gives_one_sample_at_receive_time(plant: str) -> None:
    read = reader((f"{plant}/+/+/{{equipment}}/count", "$.value"), (f"{plant}/+/+/{{equipment}}/count", "$.state"))
    topic = f"{plant}/site/line1/CNC-01/count"
    samples = read.read(topic, payload({"value": 1042, "state": "EXECUTE"}))
    assert samples == [
        Sample(f"mqtt:{topic}#$.value", 1042, NOW_MS),
        Sample(f"mqtt:{topic}#$.state", "EXECUTE", NOW_MS),
    ]
    assert read.read(f"{plant}/site/line1/CNC-01/other", payload({"value": 1})) == []
    assert read.read(f"{plant}/site/CNC-01/count", payload({"value": 1})) == []


def test_scalars_and_null_are_values(plant: str) -> None:
    read = reader((f"{plant}/{{equipment}}", "$"))
    for value in (True, 3, -2.5, "text", None):
        assert read.read(f"{plant}/M1", payload(value)) == [Sample(f"mqtt:{plant}/M1#$", value, NOW_MS)]


def test_overlapping_templates_give_one_sample_per_selector(plant: str) -> None:
    read = reader((f"{plant}/{{equipment}}/count", "$.v"), (f"{plant}/#", "$.v"), (f"{plant}/#", "$.w"))
    samples = read.read(f"{plant}/M1/count", payload({"v": 1, "w": 2}))
    assert sorted(sample.address for sample in samples) == [f"mqtt:{plant}/M1/count#$.v", f"mqtt:{plant}/M1/count#$.w"]


@pytest.mark.parametrize(
    ("stamp", "expected_ms"),
    [
        ("2026-03-02T05:59:58.250Z", NOW_MS - 1750),
        ("2026-03-02T06:59:58.250+01:00", NOW_MS - 1750),
        (NOW_MS - 1750, NOW_MS - 1750),
        ((NOW_MS - 1750) / 1000, NOW_MS - 1750),
        ((NOW_MS - 2000) // 1000, NOW_MS - 2000),
    ],
)
def test_the_timestamp_selector_reads_iso_8601_or_epoch_seconds_or_milliseconds(
    plant: str, stamp: object, expected_ms: int
) -> None:
    read = reader(JsonSubscription(f"{plant}/{{equipment}}", "$.v", timestamp_selector="$.meta.ts"))
    samples = read.read(f"{plant}/M1", payload({"v": 5, "meta": {"ts": stamp}}))
    assert samples == [Sample(f"mqtt:{plant}/M1#$.v", 5, expected_ms)]


@pytest.mark.parametrize("stamp", ["2026-03-02T06:00:00", "yesterday", True, [1], None, "2026-13-01T00:00:00Z"])
def test_a_bad_or_local_timestamp_rejects_the_value_and_is_counted(plant: str, stamp: object) -> None:
    template = f"{plant}/{{equipment}}"
    read = reader(JsonSubscription(template, "$.v", timestamp_selector="$.ts"))
    assert read.read(f"{plant}/M1", payload({"v": 5, "ts": stamp})) == []
    assert read.read(f"{plant}/M1", payload({"v": 5})) == []
    assert rejects(template, "$.v", "bad_timestamp") == 2


def test_faults_are_counted_per_subscription_and_ingestion_goes_on(plant: str) -> None:
    template = f"{plant}/{{equipment}}"
    read = reader((template, "$.count"), (template, "$.state"))
    topic = f"{plant}/M1"
    assert read.read(topic, b"{not json") == []
    assert read.read(topic, b"\xff\xfe\xfa") == []
    assert read.read(topic, b'{"count": NaN, "state": 1}') == []
    assert read.read(topic, payload({"count": {"total": 3}, "state": [1, 2]})) == []
    assert read.read(topic, payload({"state": "IDLE"})) == [Sample(f"mqtt:{topic}#$.state", "IDLE", NOW_MS)]
    assert read.read(topic, payload({"count": 4, "state": "IDLE"})) == [
        Sample(f"mqtt:{topic}#$.count", 4, NOW_MS),
        Sample(f"mqtt:{topic}#$.state", "IDLE", NOW_MS),
    ]
    assert rejects(template, "$.count", "malformed_json") == 3
    assert rejects(template, "$.state", "malformed_json") == 3
    assert rejects(template, "$.count", "not_scalar") == 1
    assert rejects(template, "$.state", "not_scalar") == 1
    assert rejects(template, "$.count", "selector_miss") == 1
    assert rejects(template, "$.state", "selector_miss") == 0


def test_repeated_faults_are_logged_once_per_interval_with_the_count_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("test.throttle"), interval_seconds=60, monotonic=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        assert throttled.log(logging.WARNING, "a", "fault %s", "one")
        for _ in range(5):
            now[0] += 10
            assert not throttled.log(logging.WARNING, "a", "fault %s", "one")
        assert throttled.log(logging.WARNING, "b", "other %s", "key")
        now[0] += 11
        assert throttled.log(logging.WARNING, "a", "fault %s", "again")
    assert [record.getMessage() for record in caplog.records] == [
        "fault one",
        "other key",
        "fault again (5 more like this not logged)",
    ]


def test_a_reject_is_logged_with_the_topic_and_what_is_wrong(plant: str, caplog: pytest.LogCaptureFixture) -> None:
    read = reader((f"{plant}/{{equipment}}", "$.count"))
    with caplog.at_level(logging.WARNING, logger="openmes.acquisition.mqtt_json"):
        for _ in range(3):
            read.read(f"{plant}/M1", payload({"other": 1}))
    assert len(caplog.records) == 1
    assert f"{plant}/M1" in caplog.records[0].getMessage()
    assert "$.count selects nothing" in caplog.records[0].getMessage()


def test_epoch_and_iso_conversions_agree() -> None:
    assert iso8601_to_ms("2026-03-02T06:00:00Z") == epoch_to_ms(NOW_MS // 1000) == epoch_to_ms(NOW_MS) == NOW_MS
    assert epoch_to_ms(1.0015) == 1002
    assert epoch_to_ms(99_999_999_999) == 99_999_999_999_000
    assert epoch_to_ms(100_000_000_000) == 100_000_000_000
    with pytest.raises(ValueError, match="no UTC offset"):
        iso8601_to_ms("2026-03-02T06:00:00")
    with pytest.raises(ValueError, match="outside the years"):
        epoch_to_ms(10**20)
