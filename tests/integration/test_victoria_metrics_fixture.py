"""The VictoriaMetrics fixture really starts a server that stores and returns samples."""

from __future__ import annotations

import time

from support.servers import VMServer


def test_vm_fixture_import_then_export_round_trips(vm: VMServer) -> None:
    now_ms = int(time.time() * 1000) - 60_000  # export's default end is now
    vm.seed("fixture_roundtrip", {"job": "a.b"}, [1, 2.5], [now_ms - 1000, now_ms])
    rows = vm.export('{__name__="fixture_roundtrip"}')
    assert len(rows) == 1
    assert rows[0]["metric"] == {"__name__": "fixture_roundtrip", "job": "a.b"}
    assert rows[0]["values"] == [1, 2.5]
    assert rows[0]["timestamps"] == [now_ms - 1000, now_ms]
