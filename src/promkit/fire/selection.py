"""Which original series a run replicates: name regexes, replica skipping, caps, shards.

The decision is a pure function of the discovered label sets, so ``plan`` and ``run``
select exactly the same series, and ``n`` machines running ``--shard 0/n`` ...
``--shard n-1/n`` cover every selected series exactly once.

Order of the rules: series that already carry a replication label are skipped first (so
a re-run never replicates replicas), then the name include/exclude regexes, then the shard,
then ``max_metrics`` (the first N metric names in sorted order) and ``max_series`` (the first
N series in sorted label order).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from promkit.core.errors import UsageError
from promkit.fire.config import Selection

LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: Mapping[str, str]) -> LabelKey:
    """A hashable, order-independent identity of a label set."""
    return tuple(sorted(labels.items()))


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): a stable hash of the sorted label set."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
            raise UsageError(
                f"invalid --shard {text!r}",
                hint="use i/n with 0 <= i < n, e.g. --shard 0/3 on the first of three machines",
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def owns(self, key: LabelKey) -> bool:
        if self.count == 1:
            return True
        text = "\x00".join(f"{k}\x01{v}" for k, v in key).encode()
        digest = hashlib.blake2b(text, digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index


@dataclass
class SelectionResult:
    """The selected series (sorted) and how many were skipped for which reason."""

    selected: list[LabelKey]
    skipped: Counter[str] = field(default_factory=Counter)
    discovered: int = 0

    @property
    def metrics(self) -> list[str]:
        return sorted({dict(k).get("__name__", "") for k in self.selected})


class SeriesFilter:
    """Apply a :class:`Selection` plus the replication label names and a shard."""

    def __init__(
        self,
        selection: Selection,
        replication_label_names: Iterable[str],
        shard: Shard | None = None,
    ) -> None:
        self._include = [re.compile(p) for p in selection.include]
        self._exclude = [re.compile(p) for p in selection.exclude]
        self._names = frozenset(replication_label_names)
        self._shard = shard or Shard(0, 1)
        self._max_metrics = selection.max_metrics
        self._max_series = selection.max_series

    def name_ok(self, name: str) -> bool:
        if self._include and not any(p.fullmatch(name) for p in self._include):
            return False
        return not any(p.fullmatch(name) for p in self._exclude)

    def reason_to_skip(self, labels: Mapping[str, str]) -> str | None:
        """The per-series rule that drops ``labels``, or None (caps are applied later)."""
        if self._names.intersection(labels):
            return "already_replica"
        if not self.name_ok(labels.get("__name__", "")):
            return "name_filter"
        if not self._shard.owns(label_key(labels)):
            return "other_shard"
        return None

    def select(self, discovered: Iterable[Mapping[str, str]]) -> SelectionResult:
        skipped: Counter[str] = Counter()
        keys: set[LabelKey] = set()
        count = 0
        for labels in discovered:
            count += 1
            reason = self.reason_to_skip(labels)
            if reason:
                skipped[reason] += 1
            else:
                keys.add(label_key(labels))
        ordered = sorted(keys)
        if self._max_metrics is not None:
            allowed = set(
                sorted({dict(k).get("__name__", "") for k in ordered})[: self._max_metrics]
            )
            kept = [k for k in ordered if dict(k).get("__name__", "") in allowed]
            skipped["max_metrics"] += len(ordered) - len(kept)
            ordered = kept
        if self._max_series is not None and len(ordered) > self._max_series:
            skipped["max_series"] += len(ordered) - self._max_series
            ordered = ordered[: self._max_series]
        return SelectionResult(selected=ordered, skipped=skipped, discovered=count)


__all__ = ["LabelKey", "SelectionResult", "SeriesFilter", "Shard", "label_key"]
