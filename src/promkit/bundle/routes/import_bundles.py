"""The import wizard's bundles: upload to the staging area, list, and preflight.

A bundle is named by a ``bundle_id``:

- ``out/<name>``: a file directly inside the console's output directory (what ``gather``
  wrote there: ``.zip``, ``.jsonl``, ``.jsonl.gz``);
- ``up/<hex>/<name>``: a file uploaded through ``POST /api/import/upload`` into
  ``<staging>/uploads/<hex>/``.

Uploads stream to disk chunk by chunk (never held in memory), bounded by
``ConsoleSettings.max_upload_bytes`` (413 past it), into a temporary file that is renamed
only when complete and readable as a bundle; a file that is not one is deleted and the
answer says why. Ids are resolved like downloads: names only, symlinks followed and refused
when they lead outside their folder, so no request reaches any other file.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Literal

import anyio
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.alignment import ShiftSpec, parse_label_edits
from promkit.bundle.config import RequestConnection
from promkit.bundle.preflight import PreflightReport, TargetLimits, run_preflight, target_limits
from promkit.bundle.reader import BundleReader, open_bundle
from promkit.bundle.routes.deps import Console, ConsoleDep, error_responses
from promkit.core.errors import NotFoundError, PromkitError, UsageError

__all__ = [
    "BUNDLE_ID",
    "BundleIdIn",
    "BundleList",
    "BundleRef",
    "ImportOptionsIn",
    "PayloadTooLargeError",
    "PreflightRequest",
    "open_by_id",
    "resolve_bundle",
    "router",
]

router = APIRouter(tags=["import"])

_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}"
BUNDLE_ID = rf"^(out/{_NAME_RE}|up/[0-9a-f]{{16}}/{_NAME_RE})$"
_NAME = re.compile(_NAME_RE)
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.+-]+")
LISTED_SUFFIXES = (".zip", ".jsonl", ".jsonl.gz")
MAX_LISTED = 200
BINARY_BODY = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


class PayloadTooLargeError(UsageError):
    """An upload over the console's size bound."""

    http_status = 413


class BundleRef(BaseModel):
    bundle_id: str
    name: str
    source: Literal["output", "upload"]
    size_bytes: int
    modified: float
    kind: str | None = None
    checksum: bool | None = None


class BundleList(BaseModel):
    bundles: list[BundleRef]
    output_dir: str
    max_upload_bytes: int


class ImportOptionsIn(BaseModel):
    """What preflight and import share: the bundle, the target and the rewrite options."""

    model_config = ConfigDict(extra="forbid")

    bundle_id: str = Field(pattern=BUNDLE_ID, max_length=300)
    connection: RequestConnection
    shift: str = Field(
        default="none",
        max_length=200,
        description="none, now, align=<time> (first sample at that time) or a duration (-2h)",
    )
    retention: str | None = Field(
        default=None, max_length=64, description="override the target's retentionPeriod"
    )
    add_labels: list[str] = Field(default_factory=list, max_length=64, description="k=v")
    drop_labels: list[str] = Field(default_factory=list, max_length=64)


class PreflightRequest(ImportOptionsIn):
    pass


def _safe_child(base: Path, name: str) -> Path:
    """``base/name`` when it is a regular file really inside ``base`` (symlinks resolved)."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a bundle name", hint="pick a bundle from the list")
    root = base.resolve()
    try:
        resolved = (root / name).resolve(strict=True)
    except FileNotFoundError:
        raise NotFoundError(
            f"no bundle named {name!r}", hint="upload it again or pick one from the list"
        ) from None
    except (OSError, RuntimeError):
        raise UsageError("the bundle name cannot be resolved", hint="pick another") from None
    if resolved.parent != root or not resolved.is_file():
        raise NotFoundError(f"no bundle named {name!r}", hint="pick a bundle from the list")
    return resolved


def resolve_bundle(console: Console, bundle_id: str) -> Path:
    """The file a ``bundle_id`` names (see the module docstring)."""
    if not re.fullmatch(BUNDLE_ID, bundle_id):
        raise UsageError(f"{bundle_id!r} is not a bundle id", hint="pick a bundle from the list")
    source, _, rest = bundle_id.partition("/")
    if source == "out":
        return _safe_child(console.output_dir, rest)
    folder, _, name = rest.partition("/")
    return _safe_child(console.settings.upload_root / folder, name)


def open_by_id(console: Console, bundle_id: str) -> BundleReader:
    return open_bundle(resolve_bundle(console, bundle_id))


def _ref(bundle_id: str, path: Path, source: Literal["output", "upload"]) -> BundleRef:
    st = path.stat()
    return BundleRef(
        bundle_id=bundle_id,
        name=path.name,
        source=source,
        size_bytes=st.st_size,
        modified=st.st_mtime,
    )


def _listed(console: Console) -> list[BundleRef]:
    refs: list[BundleRef] = []
    out = console.output_dir
    if out.is_dir():
        for path in out.iterdir():
            listed = path.name.endswith(LISTED_SUFFIXES) and _NAME.fullmatch(path.name)
            if listed and path.is_file():
                refs.append(_ref(f"out/{path.name}", path, "output"))
    uploads = console.settings.upload_root
    if uploads.is_dir():
        for folder in uploads.iterdir():
            if not re.fullmatch(r"[0-9a-f]{16}", folder.name) or not folder.is_dir():
                continue
            for path in folder.iterdir():
                if _NAME.fullmatch(path.name) and path.is_file():
                    refs.append(_ref(f"up/{folder.name}/{path.name}", path, "upload"))
    refs.sort(key=lambda r: r.modified, reverse=True)
    return refs[:MAX_LISTED]


@router.get(
    "/api/import/bundles",
    response_model=BundleList,
    responses=error_responses(_401="missing session token"),
)
def list_bundles(console: ConsoleDep) -> BundleList:
    """Bundles the import can read: the output directory's and the uploaded ones, newest first."""
    return BundleList(
        bundles=_listed(console),
        output_dir=str(console.output_dir),
        max_upload_bytes=console.settings.max_upload_bytes,
    )


def upload_name(raw: str) -> str:
    """A safe file name for an uploaded file (its base name, odd characters replaced)."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _BAD_CHARS.sub("_", base).lstrip("._-+")[:200]
    return cleaned or "bundle.zip"


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the file is larger than the console accepts ({limit} bytes)",
        hint="import it with `promkit import run FILE --url ...`, or put it into the output "
        "directory and pick it from the list",
    )


@router.post(
    "/api/import/upload",
    response_model=BundleRef,
    responses=error_responses(
        _400="no file name",
        _401="missing session token",
        _413="the file is over the console's upload limit",
        _422="the file is not a bundle, or it is damaged",
    ),
    openapi_extra={"requestBody": BINARY_BODY},
)
async def upload_bundle(
    request: Request,
    console: ConsoleDep,
    name: str = Query(min_length=1, max_length=1024, description="the file's original name"),
) -> BundleRef:
    """Stream the request body (the raw file) to the staging area, then check it is a bundle."""
    limit = console.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    folder_id = secrets.token_hex(8)
    folder = console.settings.upload_root / folder_id
    final = folder / upload_name(name)
    partial = folder / ".upload.partial"
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    try:
        size = 0
        with partial.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                if chunk:
                    await anyio.to_thread.run_sync(fh.write, chunk)
        if size == 0:
            raise UsageError("the uploaded file is empty", hint="pick the bundle file again")
        partial.rename(final)
        reader = await anyio.to_thread.run_sync(open_bundle, final)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, PromkitError) and str(final) in exc.message:
            raise type(exc)(exc.message.replace(str(final), final.name), hint=exc.hint) from None
        raise
    ref = _ref(f"up/{folder_id}/{final.name}", final, "upload")
    ref.kind = reader.info.kind.value
    ref.checksum = reader.info.expected_sha256 is not None or reader.info.sidecar_verified
    return ref


class BundleIdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle_id: str = Field(pattern=BUNDLE_ID, max_length=300)


@router.post(
    "/api/import/discard",
    response_model=BundleList,
    responses=error_responses(
        _400="not an uploaded bundle",
        _401="missing session token",
        _404="no such bundle",
    ),
)
def discard_upload(body: BundleIdIn, console: ConsoleDep) -> BundleList:
    """Delete an uploaded bundle from the staging area (the output directory is never touched)."""
    if not body.bundle_id.startswith("up/"):
        raise UsageError(
            "only uploaded bundles can be removed here",
            hint=f"bundles in {console.output_dir} belong to you: delete them there",
        )
    path = resolve_bundle(console, body.bundle_id)
    shutil.rmtree(path.parent, ignore_errors=True)
    return list_bundles(console)


def limits_for(console: Console, body: ImportOptionsIn) -> TargetLimits:
    """The target's retention and label limit (its ``flag`` metrics), with the override.

    The target is validated first: ``flags()`` reads ``/metrics`` and is quiet when that
    fails, so a bad URL, certificate or password would otherwise pass unnoticed."""
    console.validator(body.connection)
    with console.client_factory(body.connection) as client:
        flags = client.flags()
    return target_limits(flags, retention=body.retention)


@router.post(
    "/api/import/preflight",
    response_model=PreflightReport,
    responses=error_responses(
        _400="bad shift, retention or label edit",
        _401="missing session token, or the server refused the credentials",
        _404="no such bundle",
        _422="the bundle is damaged or not a bundle",
        _502="server unreachable or answered with an error",
    ),
)
def preflight(body: PreflightRequest, console: ConsoleDep) -> PreflightReport:
    """Scan the bundle and say what importing it into the target would do (sends nothing)."""
    now = int(time.time() * 1000)
    spec = ShiftSpec.parse(body.shift, now_ms=now)
    added, dropped = parse_label_edits(body.add_labels, body.drop_labels)
    reader = open_by_id(console, body.bundle_id)
    limits = limits_for(console, body)
    return run_preflight(
        reader, limits=limits, shift=spec, add_labels=added, drop_labels=dropped, now_ms=now
    )
