"""OPENMES_MQTT_JSON_URL, the plant's broker for MQTT JSON tags, is checked like OPENMES_MQTT_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmes.core.settings import SettingsError, load_settings


def test_the_plant_broker_url_is_read_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENMES_CONFIG", raising=False)
    monkeypatch.setenv("OPENMES_MQTT_JSON_URL", "mqtts://reader:pw@broker.plant.local:8883")
    assert load_settings().mqtt_json_url == "mqtts://reader:pw@broker.plant.local:8883"
    monkeypatch.setenv("OPENMES_MQTT_JSON_URL", "http://broker.plant.local")
    with pytest.raises(SettingsError, match=r"OPENMES_MQTT_JSON_URL .* must look like mqtt://host:1883"):
        load_settings()
