"""Obfuscation: deterministic, collision-free, no original value anywhere in the output."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from promkit.bundle.obfuscation import (
    GENERIC_COMPONENT,
    ObfuscationSettings,
    Obfuscator,
    detect_component,
)
from promkit.core.errors import DataError

ON = ObfuscationSettings(enabled=True)


def test_instance_keeps_port_and_maps_host_once() -> None:
    obf = Obfuscator(ON)
    a = obf.instance("10.1.2.3:8482")
    b = obf.instance("10.1.2.3:8401")
    c = obf.instance("10.1.2.4:8482")
    assert a == "777.777.1.1:8482"
    assert b == "777.777.1.1:8401"
    assert c == "777.777.1.2:8482"


def test_instance_mapping_is_collision_free_past_255_hosts() -> None:
    obf = Obfuscator(ON)
    fakes = {obf.instance(f"host{i}:80") for i in range(70_000)}
    assert len(fakes) == 70_000


def test_portless_instance_is_an_opaque_token_not_a_hash() -> None:
    obf = Obfuscator(ON)
    token = obf.instance("self")
    assert token == "777.777.1.1"
    assert "self" not in token
    # the same original always yields the same token within the export
    assert obf.instance("self") == token


def test_ipv6_instance_keeps_port() -> None:
    obf = Obfuscator(ON)
    assert obf.instance("[::1]:9100") == "777.777.1.1:9100"
    assert obf.scrub_ips("peer=[::1]:7000") == "peer=777.777.1.1:7000"


@pytest.mark.parametrize(
    ("job", "component"),
    [
        ("vmstorage-prod", "vmstorage"),
        ("prod-vminsert", "vminsert"),
        ("VMSelect", "vmselect"),
        ("k8s/vmagent-0", "vmagent"),
        ("vmalert", "vmalert"),
        ("vmauth-edge", "vmauth"),
        ("victoria-metrics", "vmsingle"),
        ("payments-api", GENERIC_COMPONENT),
        ("a|b", GENERIC_COMPONENT),
    ],
)
def test_detect_component_from_job_name(job: str, component: str) -> None:
    assert detect_component(job) == component


def test_detect_component_uses_hint_labels_and_metric_prefix() -> None:
    assert detect_component("db", hint="vmstorage") == "vmstorage"
    assert detect_component("db", {"vm_component": "vmselect"}) == "vmselect"
    assert detect_component("db", metric_name="vmagent_remotewrite_requests_total") == "vmagent"
    # an unknown hint never leaks into the name
    assert detect_component("db", hint="secret-cluster") == GENERIC_COMPONENT


def test_job_names_never_contain_the_original() -> None:
    obf = Obfuscator(ON)
    originals = ["vmstorage-prod-eu", "vmstorage-prod-us", "victoria-metrics", "billing.prod"]
    names = [obf.job(j) for j in originals]
    assert names == ["vmstorage-job-1", "vmstorage-job-2", "vmsingle-job-1", "service-job-1"]
    for original, name in zip(originals, names, strict=True):
        assert original not in name
    assert obf.job("vmstorage-prod-eu") == "vmstorage-job-1"


def test_ip_literals_in_any_label_use_the_instance_mapping() -> None:
    obf = Obfuscator(ON)
    out = obf.labels(
        {
            "__name__": "flag",
            "instance": "127.0.0.1:8428",
            "job": "victoria-metrics",
            "name": "httpListenAddr",
            "value": "127.0.0.1:8428",
            "peers": "10.0.0.7:8400,10.0.0.8:8400",
            "url": "http://[2001:db8::1]:8080/x",
        }
    )
    assert out["instance"] == "777.777.1.1:8428"
    assert out["value"] == "777.777.1.1:8428"
    assert out["peers"] == "777.777.1.2:8400,777.777.1.3:8400"
    assert out["url"] == "http://777.777.1.4:8080/x"
    assert out["name"] == "httpListenAddr"
    assert out["__name__"] == "flag"


@pytest.mark.parametrize(
    "value",
    ["12:34:56", "aa:bb:cc:dd:ee:ff", "Class::Method", "v1.2.3.4", "999.1.1.1", "1.2.3.4.5"],
)
def test_non_ip_text_is_left_alone(value: str) -> None:
    assert Obfuscator(ON).scrub_ips(value) == value


def test_custom_and_tenant_labels_and_drop_labels() -> None:
    settings = ObfuscationSettings(
        enabled=True, custom_labels=("pod", "cluster"), drop_labels=("secret", "__name__")
    )
    obf = Obfuscator(settings)
    out = obf.labels(
        {
            "__name__": "m",
            "pod": "api-7f9",
            "cluster": "eu-1",
            "vm_account_id": "1011",
            "vm_project_id": "7",
            "secret": "x",
        }
    )
    assert out == {
        "__name__": "m",
        "pod": "pod-1",
        "cluster": "cluster-1",
        "vm_account_id": "1",
        "vm_project_id": "1",
    }
    assert obf.labels({"pod": "api-000"})["pod"] == "pod-2"


def test_disabled_obfuscation_still_drops_labels_and_nothing_else() -> None:
    obf = Obfuscator(ObfuscationSettings(enabled=False, drop_labels=("pod",)))
    labels = {"__name__": "m", "instance": "10.0.0.1:80", "job": "x", "pod": "p"}
    assert obf.labels(labels) == {"__name__": "m", "instance": "10.0.0.1:80", "job": "x"}
    untouched = Obfuscator(ObfuscationSettings())
    same = {"__name__": "m", "instance": "10.0.0.1:80"}
    assert untouched.labels(same) is same


def test_label_sets_are_cached_and_shared() -> None:
    obf = Obfuscator(ON)
    labels = {"__name__": "up", "job": "vmagent", "instance": "10.0.0.1:8429"}
    first = obf.labels(labels)
    assert first == {"__name__": "up", "job": "vmagent-job-1", "instance": "777.777.1.1:8429"}
    assert obf.labels(dict(labels)) is first


def test_state_round_trip_continues_the_same_mapping(tmp_path: Path) -> None:
    obf = Obfuscator(ObfuscationSettings(enabled=True, custom_labels=("pod",)))
    before = obf.labels({"instance": "10.0.0.1:80", "job": "vmselect-a", "pod": "p1"})
    obf.save_state(tmp_path / "state.json")
    resumed = Obfuscator.load_state(tmp_path / "state.json")
    assert resumed.labels({"instance": "10.0.0.1:80", "job": "vmselect-a", "pod": "p1"}) == before
    nxt = resumed.labels({"instance": "10.0.0.2:80", "job": "vmselect-b", "pod": "p2"})
    assert nxt == {"instance": "777.777.1.2:80", "job": "vmselect-job-2", "pod": "pod-2"}


def test_corrupt_state_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"settings": {}}')
    with pytest.raises(DataError):
        Obfuscator.load_state(tmp_path / "s.json")


def test_save_mapping_is_private_and_holds_originals(tmp_path: Path) -> None:
    obf = Obfuscator(ON)
    obf.labels({"instance": "10.0.0.1:80", "job": "vmagent-x"})
    path = tmp_path / "mapping.json"
    obf.save_mapping(path)
    assert path.stat().st_mode & 0o777 == 0o600
    data = orjson.loads(path.read_bytes())
    assert data["hosts"] == {"10.0.0.1": "777.777.1.1"}
    assert data["jobs"] == {"vmagent-x": "vmagent-job-1"}
    assert "10.0.0.1" not in orjson.dumps(obf.state()["settings"]).decode()


def test_known_job_names_in_other_labels_are_replaced_whole() -> None:
    obf = Obfuscator(ON)
    # cached before the job is known, then the job appears: the cache must not keep the leak
    early = obf.labels({"__name__": "vm_promscrape_targets", "scrape_job": "vmstorage-prod"})
    assert early["scrape_job"] == "vmstorage-prod"
    obf.labels({"__name__": "up", "job": "vmstorage-prod", "instance": "h:1"})
    later = obf.labels({"__name__": "vm_promscrape_targets", "scrape_job": "vmstorage-prod"})
    assert later["scrape_job"] == "vmstorage-job-1"
    # only whole values: a path that merely contains the word stays readable
    assert obf.labels({"path": "/vmstorage-prod/x"})["path"] == "/vmstorage-prod/x"


def test_preregister_numbers_in_sorted_order_regardless_of_stream_order() -> None:
    a, b = Obfuscator(ON), Obfuscator(ON)
    for obf in (a, b):
        obf.preregister(instances=["10.0.0.2:1", "10.0.0.1:1"], jobs=["vmagent-b", "vmagent-a"])
    a.labels({"job": "vmagent-b", "instance": "10.0.0.2:1"})
    b.labels({"job": "vmagent-a", "instance": "10.0.0.1:1"})
    assert a.mapping() == b.mapping()
    assert a.mapping()["jobs"] == {"vmagent-a": "vmagent-job-1", "vmagent-b": "vmagent-job-2"}
