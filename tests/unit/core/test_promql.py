"""Selector building: Go-compatible string literals and exact-match regexes."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promkit.core.errors import UsageError
from promkit.core.promql import (
    is_selector,
    matcher,
    one_of,
    quote,
    regex_escape,
    regex_literal,
    selector,
    validate_label_name,
    validate_metric_name,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [  # expected = Go's strconv.Quote output
        ("job", '"job"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nnext\ttab\r", '"line\\nnext\\ttab\\r"'),
        ("\a\b\f\v", '"\\a\\b\\f\\v"'),
        ("nul\x00", '"nul\\x00"'),
        ("\x7f\x1b", '"\\x7f\\x1b"'),
        ("ü漢😀", '"ü漢😀"'),
        ("\u2028\u00a0", '"\\u2028\\u00a0"'),
        ("\ue000", '"\\ue000"'),
        ("\U000f0000", '"\\U000f0000"'),
    ],
)
def test_quote_matches_go_strconv_quote(value: str, expected: str) -> None:
    assert quote(value) == expected


@given(st.text())
def test_quote_round_trips_through_an_unquoter(value: str) -> None:
    # Python's string-literal escapes agree with Go's for every escape quote() emits.
    assert ast.literal_eval(quote(value)) == value


def test_quote_rejects_lone_surrogates() -> None:
    with pytest.raises(UsageError):
        quote("a\ud800")


def test_regex_literal_doubles_backslashes_in_query_text() -> None:
    assert regex_literal("a.b") == '"a\\\\.b"'
    assert (
        regex_escape("a.b|c(d)*[e]{f}^$+?\\") == "a\\.b\\|c\\(d\\)\\*\\[e\\]\\{f\\}\\^\\$\\+\\?\\\\"
    )
    assert regex_escape("plain text-with #&~ chars") == "plain text-with #&~ chars"


@given(st.text(), st.text(min_size=1))
def test_regex_escape_matches_exactly_the_value(value: str, other: str) -> None:
    pattern = re.compile(regex_escape(value), re.DOTALL)
    assert pattern.fullmatch(value)
    if other != value:
        assert not pattern.fullmatch(other)


def test_matcher_builds_each_operator() -> None:
    assert matcher("job", "=", 'a"b') == 'job="a\\"b"'
    assert matcher("job", "!=", "x") == 'job!="x"'
    assert matcher("job", "=~", "a.*") == 'job=~"a.*"'
    assert matcher("job", "!~", regex_escape("a.b")) == 'job!~"a\\\\.b"'


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a.b", "a b", 'a"'])
def test_matcher_rejects_bad_label_names(name: str) -> None:
    with pytest.raises(UsageError) as info:
        matcher(name, "=", "v")
    assert info.value.hint


def test_matcher_rejects_bad_operator() -> None:
    with pytest.raises(UsageError):
        matcher("job", "==", "v")  # type: ignore[arg-type]


def test_one_of_single_value_is_equality() -> None:
    assert one_of("job", ["a.b"]) == 'job="a.b"'
    assert one_of("job", "a.b") == 'job="a.b"'


def test_one_of_many_values_is_escaped_alternation() -> None:
    assert one_of("job", ["a.b", "c|d", "a.b"]) == 'job=~"a\\\\.b|c\\\\|d"'


def test_one_of_requires_a_value() -> None:
    with pytest.raises(UsageError):
        one_of("job", [])


@pytest.mark.parametrize(
    ("metric", "matchers", "expected"),
    [
        ("up", [], "up"),
        ("up", ['job="a"'], 'up{job="a"}'),
        ("ns:rate_5m", ['job="a"', 'x!="y"'], 'ns:rate_5m{job="a",x!="y"}'),
        ("weird.metric", ['job="a"'], '{__name__="weird.metric",job="a"}'),
        (None, ['job="a"'], '{job="a"}'),
        (None, [], '{__name__!=""}'),
        ("", [], '{__name__!=""}'),
    ],
)
def test_selector_forms(metric: str | None, matchers: list[str], expected: str) -> None:
    assert selector(metric, matchers) == expected


def test_validate_names() -> None:
    assert validate_label_name("__name__") == "__name__"
    assert validate_metric_name("a:b_c1") == "a:b_c1"
    for bad in ("", "9x", "a-b"):
        with pytest.raises(UsageError):
            validate_metric_name(bad)
    with pytest.raises(UsageError):
        validate_label_name("a:b")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("up", True),
        (" up ", True),
        ('up{job="a"}', True),
        ('{job=~"a\\\\.b", instance!="x,y}"}', True),
        ("{__name__=~'vm_.*',}", True),
        ('ns:m{ a = "1" , b!~`x"y` }', True),
        ("up{}", True),
        ("", False),
        ("{}x", False),
        ("rate(up[5m])", False),
        ("sum(up)", False),
        ("up[5m]", False),
        ("up or down", False),
        ('{job="a" or job="b"}', False),
        ('up{job="a"} offset 5m', False),
        ('up{job="unterminated}', False),
        ("1", False),
    ],
)
def test_is_selector(query: str, expected: bool) -> None:
    assert is_selector(query) is expected


@given(st.text(max_size=20), st.sampled_from(["=", "!=", "=~", "!~"]))
def test_built_selectors_are_selectors(value: str, op: str) -> None:
    assert is_selector(selector("m", [matcher("job", op, value)]))  # type: ignore[arg-type]
    assert is_selector(selector(None, [one_of("job", [value, "x"])]))
