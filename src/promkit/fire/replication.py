"""Replica label sets: the cartesian product of the replication labels.

Combination ``i`` is a mixed-radix decode of ``i`` with the first label varying fastest
(PromFire's order): ``region:[a,b,c]``, ``env:[x,y]`` gives (a,x) (b,x) (c,x) (a,y) (b,y)
(c,y). ``factor`` keeps the first ``factor`` combinations. A replica is the original label
set plus one combination. Originals that already carry a replication label are never
replicated (see :mod:`promkit.fire.selection`), so a combination never overwrites an
original label and a replica can never equal its original or another original.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from promkit.core.errors import DataError
from promkit.core.promql import one_of
from promkit.fire.config import Replication, ReplicationLabel

Combination = tuple[tuple[str, str], ...]


def label_combinations(
    labels: Sequence[ReplicationLabel], factor: int | None = None
) -> list[Combination]:
    """The first ``factor`` (default: all) combinations, first label varying fastest."""
    total = math.prod(len(label.values) for label in labels)
    n = total if factor is None else min(factor, total)
    out: list[Combination] = []
    for i in range(n):
        rest = i
        combo = []
        for label in labels:
            rest, digit = divmod(rest, len(label.values))
            combo.append((label.name, label.values[digit]))
        out.append(tuple(combo))
    return out


def combinations_for(replication: Replication) -> list[Combination]:
    """The replica combinations a config asks for (see ``Replication``'s docstring)."""
    labels = replication.effective_labels()
    factor = replication.factor if replication.labels else None
    return label_combinations(labels, factor)


def replica_labels(original: Mapping[str, str], combo: Combination) -> dict[str, str]:
    """``original`` plus ``combo``; refuses to overwrite a label of the original."""
    out = dict(original)
    for name, value in combo:
        if name in out:
            raise DataError(
                f"series {format_labels(original)} already has replication label {name}",
                hint="such series are skipped by selection; this is a bug if you see it",
            )
        out[name] = value
    return out


def format_labels(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


def replicas_selector(replication: Replication) -> str:
    """A selector matching every series any run with this config wrote (for cleanup)."""
    labels = replication.effective_labels()
    return "{" + ",".join(one_of(label.name, label.values) for label in labels) + "}"


__all__ = [
    "Combination",
    "combinations_for",
    "format_labels",
    "label_combinations",
    "replica_labels",
    "replicas_selector",
]
