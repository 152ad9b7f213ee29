"""``GET /api/download``: a finished bundle (or its ``.sha256``) from the output directory.

Only regular files directly inside the output directory whose names end in ``.zip`` or
``.zip.sha256`` are served; the name is resolved (symlinks followed) and must still be a
child of the output directory, so ``..``, absolute paths elsewhere and symlinks pointing
out are refused. There is no directory listing.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from promkit.bundle.routes.deps import ConsoleDep, error_responses
from promkit.core.errors import NotFoundError, PromkitError, UsageError

__all__ = ["ForbiddenPathError", "resolve_download", "router"]

router = APIRouter(tags=["export"])
SUFFIXES = (".zip", ".zip.sha256")


class ForbiddenPathError(PromkitError):
    """A download outside the output directory."""

    exit_code = 2
    http_status = 403


def resolve_download(output_dir: Path, requested: str) -> Path:
    """The file to serve for ``requested`` (a name or a path inside ``output_dir``)."""
    text = requested.strip()
    if not text or "\x00" in text:
        raise UsageError("no file named", hint="pass the bundle name, e.g. ?path=bundle.zip")
    if not text.endswith(SUFFIXES):
        raise ForbiddenPathError(
            "only bundles (.zip) and their .sha256 files can be downloaded",
            hint="pass the archive name the export reported",
        )
    base = output_dir.resolve()
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = base / candidate
    if Path(os.path.normpath(candidate)).parent != base:
        raise _outside(base)
    try:
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise NotFoundError(
            f"no bundle named {Path(text).name!r}", hint="run the export again"
        ) from None
    except (OSError, RuntimeError, ValueError):
        raise UsageError("the file name cannot be resolved", hint="pass the bundle name") from None
    if resolved.parent != base:  # a symlink pointing out
        raise _outside(base)
    if not resolved.is_file():
        raise NotFoundError(f"{resolved.name!r} is not a file", hint="pass the bundle name")
    return resolved


def _outside(base: Path) -> ForbiddenPathError:
    return ForbiddenPathError(
        "access denied: only files in the console's output directory can be downloaded",
        hint=f"bundles are written to {base}",
    )


@router.get(
    "/api/download",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}, "text/plain": {}}},
        **error_responses(
            _400="no or bad name",
            _401="missing session token",
            _403="outside the output directory or not a bundle",
            _404="no such bundle",
        ),
    },
)
def download(console: ConsoleDep, path: str = Query(min_length=1, max_length=4096)) -> FileResponse:
    """Send a finished bundle as an attachment."""
    file = resolve_download(console.output_dir, path)
    media = "application/zip" if file.name.endswith(".zip") else "text/plain; charset=utf-8"
    return FileResponse(file, media_type=media, filename=file.name)
