"""The tag mapping file's `opcua_endpoints:`: bad endpoints named with index and line, secrets only by reference."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from openmes.acquisition.mapping import opcua_endpoint, parse_document, parse_file, secret_variable
from openmes.acquisition.schemas import OpcUaEndpointIn
from openmes.core.errors import InvalidInput

PRESS = "opc.tcp://press1.plant.local:4840/"


def good_file(certificate: Path, key: Path) -> str:
    return f"""\
version: 1
opcua_endpoints:
  - url: "{PRESS}"
    security_mode: SignAndEncrypt
    security_policy: Basic256Sha256
    certificate: {certificate}
    private_key: {key}
    private_key_password: ${{OPCUA_KEY_PASSWORD}}
    username: operator
    password: ${{OPCUA_PRESS_PASSWORD}}
    publishing_interval_ms: 250
  - url: "opc.tcp://127.0.0.1:4840/openmes/"
tags:
  - source: {{opcua: {{endpoint: "{PRESS}", node: "ns=2;s=Press.Temperature"}}}}
    equipment: L2-TEST
    role: process_value
    name: temperature
"""


@pytest.fixture
def pem_files(tmp_path: Path) -> tuple[Path, Path]:
    certificate, key = tmp_path / "client.pem", tmp_path / "client-key.pem"
    certificate.write_text("certificate")
    key.write_text("key")
    return certificate, key


def test_endpoints_are_read_with_their_settings_and_secret_references(pem_files: tuple[Path, Path]) -> None:
    parsed = parse_document(good_file(*pem_files))
    assert [(found.index, found.line) for found in parsed.endpoints] == [(0, 3), (1, 12)]
    press = parsed.endpoints[0].endpoint
    assert (press.security_mode, press.username, press.publishing_interval_ms) == ("SignAndEncrypt", "operator", 250)
    assert (press.password, press.private_key_password) == ("${OPCUA_PRESS_PASSWORD}", "${OPCUA_KEY_PASSWORD}")
    default = parsed.endpoints[1].endpoint
    assert (default.security_mode, default.username, default.password, default.publishing_interval_ms) == (
        "None",
        None,
        None,
        500,
    )
    assert [found.line for found in parsed.tags] == [14]


def test_a_file_without_endpoints_gives_none() -> None:
    assert parse_document("version: 1\ntags: []\n").endpoints == []


def test_secrets_are_resolved_only_when_the_endpoint_is_built(pem_files: tuple[Path, Path]) -> None:
    config = parse_document(good_file(*pem_files)).endpoints[0].endpoint
    secrets = {"OPCUA_PRESS_PASSWORD": "s3cret-press", "OPCUA_KEY_PASSWORD": "s3cret-key"}
    endpoint = opcua_endpoint(config, ("ns=2;s=Press.Temperature",), secrets.__getitem__)
    assert (endpoint.password, endpoint.private_key_password) == ("s3cret-press", "s3cret-key")
    assert endpoint.certificate == pem_files[0]
    assert "s3cret" not in repr(endpoint)
    with pytest.raises(KeyError, match="OPCUA_"):
        opcua_endpoint(config, (), {}.__getitem__)


@pytest.mark.parametrize(
    ("reference", "variable"),
    [("${OPCUA_PW}", "OPCUA_PW"), ("${_x1}", "_x1"), (None, None)],
)
def test_a_secret_reference_names_its_variable(reference: str | None, variable: str | None) -> None:
    assert secret_variable(reference) == variable


@pytest.mark.parametrize("text", ["hunter2", "$OPCUA_PW", "${1PW}", "${PW}x", "prefix-${PW}"])
def test_anything_but_a_whole_reference_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="is not a"):
        secret_variable(text)


BAD = """\
version: 1
opcua_endpoints:
  - url: "opc.tcp://press1:4840/"
    username: operator
    password: hunter2-literal
  - url: "http://press2:4840/"
    security_mode: Sign
    publishing_interval_ms: 0
  - url: "opc.tcp://press3:4840/"
    security_mode: SignAndEncrypt
    security_policy: Basic128Rsa15
    certificate: /nowhere/client.pem
    private_key: /nowhere/client-key.pem
  - url: "opc.tcp://press1:4840/"
    colour: blue
  - url: "opc.tcp://press4:4840/"
    password: ${PRESS4_PASSWORD}
tags:
  - source: {opcua: {endpoint: "opc.tcp://press1:4840/", node: "Press.Temperature"}}
    equipment: L2-TEST
    role: process_value
    name: temperature
  - source: {opcua: {endpoint: "opc.tcp://user:pw@press1:4840/", node: "ns=2;i=7"}}
    equipment: L2-TEST
    role: total_count
"""


def test_every_bad_endpoint_is_named_with_its_index_line_and_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_document(BAD)
    problems = {problem.field: problem.message for problem in caught.value.fields}
    named = set(problems)
    assert "opcua_endpoints[0] (line 3).password" in named
    assert "${ENV_VAR}" in problems["opcua_endpoints[0] (line 3).password"]
    assert {
        "opcua_endpoints[1] (line 6).url",
        "opcua_endpoints[1] (line 6).publishing_interval_ms",
        "opcua_endpoints[1] (line 6).certificate",
        "opcua_endpoints[1] (line 6).private_key",
    } <= named
    assert {
        "opcua_endpoints[2] (line 9).security_policy",
        "opcua_endpoints[2] (line 9).certificate",
        "opcua_endpoints[2] (line 9).private_key",
    } <= named
    assert problems["opcua_endpoints[2] (line 9).certificate"] == "no file at /nowhere/client.pem"
    assert "opcua_endpoints[3] (line 14).colour" in named, "unknown fields are refused, not ignored"
    assert problems["opcua_endpoints[4] (line 16).username"] == "a password needs a user name"
    assert "tags[0] (line 19).source.opcua.node" in named
    assert "tags[1] (line 23).source.opcua.endpoint" in named
    assert caught.value.detail.startswith("2 tag(s) and 5 OPC UA endpoint(s) of the file are wrong")
    assert "hunter2" not in caught.value.detail + " ".join(problems.values())


def test_the_same_endpoint_url_twice_is_refused() -> None:
    text = 'version: 1\nopcua_endpoints:\n  - url: "opc.tcp://a:4840/"\n  - url: "opc.tcp://a:4840/"\ntags: []\n'
    with pytest.raises(InvalidInput) as caught:
        parse_file(text)
    assert [(p.field, p.message) for p in caught.value.fields] == [
        ("opcua_endpoints[1] (line 4).url", "the same URL as opcua_endpoints[0] (line 3)")
    ]
    assert caught.value.detail.startswith("1 OPC UA endpoint(s) of the file are wrong")


def test_endpoints_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_file("version: 1\nopcua_endpoints: {url: x}\ntags: []\n")
    assert caught.value.fields[0].field == "opcua_endpoints"


def test_an_endpoint_without_settings_is_anonymous_without_security() -> None:
    endpoint = opcua_endpoint(OpcUaEndpointIn(url=PRESS), ("ns=2;i=7",), {}.__getitem__)
    assert (endpoint.security_mode, endpoint.username, endpoint.password, endpoint.publishing_interval_ms) == (
        "None",
        None,
        None,
        500.0,
    )


@pytest.mark.parametrize("password", ["plain-pw-1", 'it\'s "quoted" \\ too', "pässwörd"])
def test_asyncua_request_logs_do_not_show_the_password(password: str, caplog: pytest.LogCaptureFixture) -> None:
    from asyncua import ua

    from openmes.acquisition.opcua import OpcUaEndpoint, OpcUaSource
    from openmes.core.clock import SystemClock

    endpoint = OpcUaEndpoint(PRESS, ("ns=2;i=7",), username="operator", password=password)
    OpcUaSource([endpoint], sink=None, clock=SystemClock())  # type: ignore[arg-type]
    token = ua.UserNameIdentityToken(UserName="operator", Password=password.encode())
    caplog.set_level(logging.DEBUG)
    logging.getLogger("asyncua.client.ua_client.UASocketProtocol").debug("Sending: %s", token)
    assert "Password=<hidden>" in caplog.text
    assert "UserName='operator'" in caplog.text, "the rest of the request stays readable"
    assert repr(password.encode())[2:-1] not in caplog.text
    assert password not in caplog.text
