"""Text tables and JSON shapes of ``promkit volume`` listings (sorted, stable)."""

from __future__ import annotations

from typing import Any

from promkit.volume.engine import VolumeInfo
from promkit.volume.manifest import Manifest
from promkit.volume.repository import NameSummary, PrunePlan
from promkit.volume.restore import RestorePlan


def human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _when(m: Manifest) -> str:
    return m.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def summary(s: NameSummary) -> dict[str, Any]:
    m = s.latest
    return {
        "name": s.name,
        "versions": s.versions,
        "latest_version": m.version,
        "latest_created_at": m.created_at.isoformat(),
        "latest_size": m.stored_size,
        "total_size": s.total_stored_size,
        "encrypted": m.encrypted,
        "volume": m.volume,
        "tar_sha256": m.tar_sha256,
    }


def summaries_text(items: list[NameSummary]) -> str:
    if not items:
        return "No backups found in the repository."
    rows = [
        [s.name, s.latest.version, _when(s.latest), human(s.latest.stored_size), str(s.versions),
         "yes" if s.latest.encrypted else "no", s.latest.volume]
        for s in items
    ]  # fmt: skip
    return _table(["NAME", "LATEST VERSION", "CREATED", "SIZE", "VERSIONS", "ENCRYPTED",
                   "VOLUME"], rows)  # fmt: skip


def versions_text(manifests: list[Manifest]) -> str:
    rows = [
        [m.version, _when(m), human(m.stored_size), "yes" if m.encrypted else "no",
         m.compression, m.tar_sha256[:16]]
        for m in manifests
    ]  # fmt: skip
    return _table(["VERSION", "CREATED", "SIZE", "ENCRYPTED", "COMPRESSION", "TAR SHA-256"], rows)


def info_text(m: Manifest, count: int) -> str:
    lines = [
        f"Backup:       {m.name}",
        f"Version:      {m.version}  ({count} version(s) in total)",
        f"Created:      {_when(m)}",
        f"Volume:       {m.volume} (driver {m.volume_driver or '-'})",
        f"Size:         {human(m.stored_size)} stored, {human(m.tar_size)} tar",
        f"Compression:  {m.compression}",
        f"Encrypted:    {'yes (' + m.encryption.kdf + ', AES-256-GCM)' if m.encryption else 'no'}",
        f"Tar SHA-256:  {m.tar_sha256}",
        f"Data SHA-256: {m.stored_sha256}",
        f"Host:         {m.hostname or '-'}",
        f"Tool:         promkit {m.tool_version}",
    ]
    if m.stopped_containers:
        lines.append(f"Stopped:      {', '.join(m.stopped_containers)}")
    return "\n".join(lines)


def restore_plan(plan: RestorePlan, dry_run: bool) -> dict[str, Any]:
    return {
        "backup": plan.backup_id,
        "target": plan.target,
        "target_existed": plan.target_exists,
        "target_was_empty": plan.target_empty,
        "containers": plan.containers,
        "dry_run": dry_run,
        "restored": not dry_run,
    }


def restore_plan_text(plan: RestorePlan) -> str:
    state = "empty" if plan.target_empty else "NOT empty: its contents would be replaced"
    if not plan.target_exists:
        state = "missing: it would be created"
    return "\n".join([
        f"would restore {plan.backup_id} ({human(plan.tar_size)})",
        f"into volume {plan.target} ({state})",
        f"stopping: {', '.join(plan.containers) or 'no containers'}",
        "dry run: password and version checked, nothing changed",
    ])  # fmt: skip


def prune_plan(plan: PrunePlan, dry_run: bool) -> dict[str, Any]:
    return {
        "name": plan.name,
        "dry_run": dry_run,
        "keep": [{"version": d.version, "reasons": list(d.reasons)} for d in plan.decisions
                 if d.keep],
        "remove": [d.version for d in plan.decisions if not d.keep],
        "orphans": plan.orphans,
    }  # fmt: skip


def prune_text(plans: list[PrunePlan], dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    lines = []
    for plan in plans:
        for d in plan.decisions:
            state = f"keep ({', '.join(d.reasons)})" if d.keep else verb
            lines.append(f"{plan.name}@{d.version}  {state}")
        lines += [f"{key}  {verb} (incomplete backup)" for key in plan.orphans]
    return "\n".join(lines) or "Nothing to prune."


def volume(v: VolumeInfo) -> dict[str, Any]:
    return {
        "name": v.name,
        "driver": v.driver,
        "created_at": v.created_at,
        "size": v.size,
        "labels": v.labels,
        "containers": v.containers,
    }


def volumes_text(items: list[VolumeInfo]) -> str:
    if not items:
        return "No Docker volumes."
    rows = [[v.name, v.driver, human(v.size), ", ".join(v.containers) or "-"] for v in items]
    return _table(["VOLUME", "DRIVER", "SIZE", "CONTAINERS"], rows)
