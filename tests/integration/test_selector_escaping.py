"""For arbitrary job names, the selectors promql builds match exactly that job on a real
VictoriaMetrics (which unquotes string literals like Go and reads regexes as RE2)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from promkit.core.connection import Connection
from promkit.core.promql import matcher, one_of, regex_escape, regex_literal, selector
from promkit.core.tsdb import TSDBClient
from support.servers import VMServer

pytestmark = pytest.mark.integration

DECOYS = [
    "a.b",
    "axb",
    "a",
    "b",
    "ab",
    "a|b",
    "A.B",
    'q"x',
    "q\\x",
    "back\\slash",
    "back\\\\slash",
    ".*",
    "x.*",
    "(a)",
    "[ab]",
    "a\nb",
    "ü漢😀",
]
METACHARS = ".*+?()[]{}|^$\\\"'` \n\t-#&~/=,"
JOB_NAMES = st.one_of(
    st.text(min_size=1, max_size=30),
    st.text(alphabet=st.sampled_from([*METACHARS, "a", "b", "x", "ü"]), min_size=1, max_size=12),
)


@dataclass
class Universe:
    """One metric on the session VM holding a series per job name seen so far."""

    vm: VMServer
    client: TSDBClient
    metric: str = field(default_factory=lambda: f"h2_sel_{uuid.uuid4().hex[:10]}")
    ts_ms: int = field(default_factory=lambda: (int(time.time()) - 300) * 1000)
    jobs: set[str] = field(default_factory=set)

    def add(self, *jobs: str) -> None:
        new = [j for j in jobs if j not in self.jobs]
        if new:
            self.vm.import_lines(
                {
                    "metric": {"__name__": self.metric, "job": j},
                    "values": [1],
                    "timestamps": [self.ts_ms],
                }
                for j in new
            )
            self.jobs.update(new)

    def jobs_matching(self, *matchers: str) -> set[str]:
        start = self.ts_ms / 1000 - 60
        series = self.client.series([selector(self.metric, matchers)], start, start + 120)
        return {s["job"] for s in series}


@pytest.fixture(scope="module")
def universe(vm: VMServer) -> Universe:
    u = Universe(vm=vm, client=TSDBClient(Connection.from_url(vm.url)))
    u.add(*DECOYS)
    assert u.jobs_matching() == set(DECOYS)  # every decoy is stored verbatim
    return u


@settings(max_examples=60, deadline=None)
@given(job=JOB_NAMES, decoy=st.sampled_from(DECOYS))
@example(job="a.b", decoy="axb")
@example(job="back\\slash", decoy="back\\\\slash")
@example(job="\x00nul", decoy="a")
def test_selectors_match_exactly_one_job(universe: Universe, job: str, decoy: str) -> None:
    universe.add(job)
    assert universe.jobs_matching(matcher("job", "=", job)) == {job}
    assert universe.jobs_matching(f"job=~{regex_literal(job)}") == {job}
    assert universe.jobs_matching(one_of("job", [job])) == {job}
    assert universe.jobs_matching(one_of("job", [job, decoy])) == {job, decoy}
    assert universe.jobs_matching(matcher("job", "!~", regex_escape(job))) == universe.jobs - {job}
    assert universe.jobs_matching(matcher("job", "!=", job)) == universe.jobs - {job}
