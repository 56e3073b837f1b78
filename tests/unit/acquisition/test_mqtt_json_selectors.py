"""The JSON value selector and the topic templates of the MQTT JSON source, checked when configured."""

from __future__ import annotations

import json
import re
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from openmes.acquisition.mqtt_json import (
    MISSING,
    JsonSubscription,
    SelectorError,
    TopicTemplateError,
    compile_subscriptions,
    parse_selector,
    parse_topic_template,
)
from openmes.core.errors import InvalidInput

PAYLOAD = {
    "value": 42,
    "machine": {"state": "RUNNING", "counts": [{"good": 7}, {"good": 9}]},
    "key with space": True,
    "it's": None,
    "list": [1.5, "two", [3]],
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("$", PAYLOAD),
        ("$.value", 42),
        ("$.machine.state", "RUNNING"),
        ("$.machine.counts[1].good", 9),
        ("$.machine.counts[-1].good", 9),
        ("$['key with space']", True),
        ('$["key with space"]', True),
        ("$['it\\'s']", None),
        ("$.list[2][0]", 3),
        ("$['machine']['counts'][0]['good']", 7),
    ],
)
def test_selectors_pick_what_they_name(selector: str, expected: Any) -> None:
    assert parse_selector(selector).pick(PAYLOAD) == expected


@pytest.mark.parametrize(
    "selector",
    [
        "$.absent",
        "$.value.deeper",
        "$.list[3]",
        "$.list[-4]",
        "$.machine[0]",
        "$.list.first",
        "$.machine.counts[0].bad",
    ],
)
def test_selectors_that_find_nothing_say_so(selector: str) -> None:
    assert parse_selector(selector).pick(PAYLOAD) is MISSING


def test_json_null_is_a_value_not_a_miss() -> None:
    assert parse_selector("$['it\\'s']").pick(PAYLOAD) is None


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        ("value", "must start with '$'"),
        ("", "must start with '$'"),
        ("$.", "expected a key name after '.' at position 1"),
        ("$..a", "expected a key name after '.' at position 1"),
        ("$.1abc", "expected a key name"),
        ("$[x]", "expected a list index like [0]"),
        ("$[1", "expected a list index like [0]"),
        ("$[]", "expected a list index like [0]"),
        ("$['open", "is not closed"),
        ("$['a'b]", "expected ']' after the quoted key"),
        ("$.a b", "unexpected ' ' at position 3"),
        ("$.a[*]", "expected a list index"),
        ("$$", "unexpected '$' at position 1"),
    ],
)
def test_bad_selectors_are_refused_naming_the_selector(selector: str, reason: str) -> None:
    with pytest.raises(SelectorError) as refused:
        parse_selector(selector)
    assert repr(selector) in refused.value.detail
    assert reason in refused.value.detail
    assert refused.value.status == 422


# Keys of every kind, written in whichever form the parser must accept for them.
_keys = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_steps = st.lists(st.one_of(_keys, st.integers(min_value=-5, max_value=5)), max_size=6)


def _write(steps: list[str | int], quote: str) -> str:
    parts = ["$"]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif re.fullmatch(r"[^\W\d][\w-]*", step) and quote == ".":
            parts.append("." + step)
        else:
            mark = "'" if quote in {".", "'"} else '"'
            escaped = step.replace("\\", "\\\\").replace(mark, "\\" + mark)
            parts.append(f"[{mark}{escaped}{mark}]")
    return "".join(parts)


def _nest(steps: list[str | int], leaf: Any) -> Any:
    """A document in which `steps` lead to `leaf`."""
    document = leaf
    for step in reversed(steps):
        if isinstance(step, str):
            document = {"other": 0, step: document}
        else:
            size = step + 1 if step >= 0 else -step
            items: list[Any] = [0] * size
            items[step] = document
            document = items
    return document


@given(steps=_steps, quote=st.sampled_from([".", "'", '"']), leaf=st.integers() | st.text() | st.booleans())
def test_any_written_selector_parses_to_its_steps_and_finds_its_value(
    steps: list[str | int], quote: str, leaf: Any
) -> None:
    selector = parse_selector(_write(steps, quote))
    assert list(selector.steps) == steps
    # Through real JSON, as a machine would send it.
    assert selector.pick(json.loads(json.dumps(_nest(steps, leaf)))) == leaf


@given(text=st.text(max_size=20))
def test_any_text_either_parses_or_is_refused_cleanly(text: str) -> None:
    refusal: SelectorError | None = None
    try:
        selector = parse_selector(text)
    except SelectorError as refused:
        refusal = refused
    if refusal is not None:
        assert repr(text) in refusal.detail
    else:
        assert selector.text == text


@pytest.mark.parametrize(
    ("template", "subscription", "placeholders"),
    [
        ("acme/+/+/{equipment}/count", "acme/+/+/+/count", ("equipment",)),
        ("{site}/{area}/{equipment}/#", "+/+/+/#", ("site", "area", "equipment")),
        ("plant/press-7/state", "plant/press-7/state", ()),
        ("#", "#", ()),
        ("a//{x}", "a//+", ("x",)),
    ],
)
def test_templates_become_subscriptions(template: str, subscription: str, placeholders: tuple[str, ...]) -> None:
    parsed = parse_topic_template(template)
    assert parsed.subscription == subscription
    assert parsed.placeholders == placeholders


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("", "it is empty"),
        ("a/#/b", "'#' may only be the last level"),
        ("a/line{n}/b", "mixes text with '+', '#' or braces"),
        ("a/b+/c", "mixes text"),
        ("a/{x}/{x}", "appears twice"),
        ("a/{1x}/b", "mixes text"),
        ("a/\x00", "NUL"),
    ],
)
def test_bad_templates_are_refused_naming_the_template(template: str, reason: str) -> None:
    with pytest.raises(TopicTemplateError) as refused:
        parse_topic_template(template)
    assert repr(template) in refused.value.detail
    assert reason in refused.value.detail


_level = st.text(alphabet="abcXYZ019-_. ", min_size=0, max_size=6)


@given(
    levels=st.lists(st.one_of(_level, st.just("+"), st.sampled_from(["{equipment}", "{line}", "{site}"])), min_size=1),
    concrete=st.lists(st.text(alphabet="abc123-", min_size=1, max_size=5), min_size=8, max_size=8),
)
def test_a_template_subscription_matches_exactly_the_topics_the_template_describes(
    levels: list[str], concrete: list[str]
) -> None:
    names = [level for level in levels if level.startswith("{")]
    assume(len(names) == len(set(names)) and levels != [""])
    parsed = parse_topic_template("/".join(levels))
    # Fill every placeholder and '+' with a concrete level: the subscription must take that topic.
    topic = "/".join(concrete[i % 8] if level in {"+", *names} else level for i, level in enumerate(levels))
    assert mqtt.topic_matches_sub(parsed.subscription, topic)
    # One level more is another topic.
    assert not mqtt.topic_matches_sub(parsed.subscription, topic + "/extra")


def test_all_bad_subscriptions_are_named_in_one_refusal() -> None:
    with pytest.raises(InvalidInput) as refused:
        compile_subscriptions(
            [("good/{equipment}", "$.v"), ("bad/#/x", "$.v"), JsonSubscription("ok", "$.v", timestamp_selector="ts")]
        )
    assert "subscription 1" in refused.value.detail
    assert "'bad/#/x'" in refused.value.detail
    assert "subscription 2" in refused.value.detail
    assert "'ts'" in refused.value.detail
    assert {problem.field for problem in refused.value.fields} == {"1.topic", "2.selector"}


def test_the_same_template_and_selector_twice_is_one_subscription() -> None:
    compiled = compile_subscriptions([("a/{equipment}", "$.v"), ("a/{equipment}", "$.v"), ("a/{equipment}", "$.w")])
    assert [c.value.text for c in compiled] == ["$.v", "$.w"]
