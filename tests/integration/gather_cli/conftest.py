"""``promkit gather`` as a subprocess against the session's real VictoriaMetrics."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from support.servers import VMServer

from .gather_support import META_JOBS, MIN, RANGE_MIN, STEP, Seeded


@pytest.fixture(scope="session")
def seeded(vm: VMServer) -> Seeded:
    prefix = f"gc{secrets.token_hex(3)}"
    base = (int(time.time() * 1000) - 3 * 3600 * 1000) // MIN * MIN
    end = base + RANGE_MIN * MIN
    seed = Seeded(vm.url, prefix, f"{prefix}_requests_total", base, end)
    stamps = list(range(base, end + 1, STEP))
    lines: list[dict[str, Any]] = []
    for i, name in enumerate(META_JOBS):
        lines.append(
            {
                "metric": {
                    "__name__": seed.metric,
                    "job": seed.job(name),
                    "instance": f"{seed.ip(i)}:9100",
                },
                "values": [float(i + 1)] * len(stamps),
                "timestamps": stamps,
            }
        )
    # a "cluster": vm_app_version of a vmstorage (empty version, as Debian's 1.79 writes) and a
    # vminsert (with a version), each with a flag series that carries an IP in its value
    for i, (job, version) in enumerate(
        ((seed.job("vmstorage-prod"), ""), (seed.job("ins"), "vminsert-20240101-v1.79.5"))
    ):
        instance = f"{seed.ip(20 + i)}:848{2 - i}"
        for name, labels in (
            ("vm_app_version", {"version": version}),
            ("flag", {"name": "httpListenAddr", "value": instance}),
        ):
            lines.append(
                {
                    "metric": {"__name__": name, "job": job, "instance": instance, **labels},
                    "values": [1.0] * len(stamps),
                    "timestamps": stamps,
                }
            )
    vm.import_lines(lines)
    return seed
