"""What a tar stream of a volume holds, and the differences between two of them.

Restore uses this to re-check the target after copying: the backup's tar is listed while it
streams into the staging volume (:class:`TarListing` passes the pieces through unchanged),
the target is read back through the archive API and listed the same way, and
:func:`differences` names the paths that differ. File contents are compared by SHA-256,
hashed piece by piece while the tar is walked, so no file is ever held in memory.

Paths are relative to the volume root (``""`` is the root itself): backups hold
``data/...`` entries, DVOM backups ``./...``; both describe the same tree. Hard links are
compared as the file they point to plus the set of names that share it, so the order in
which an archiver met the names does not matter. Times are not compared (a directory's
mtime moves whenever an entry is added to it).
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from promkit.core.errors import IntegrityError

__all__ = ["Entry", "TarListing", "differences", "listing_of"]

_READ = 1 << 20
_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char-device",
    tarfile.BLKTYPE: "block-device",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass(frozen=True)
class Entry:
    """One path of a volume as the tar describes it."""

    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    sha256: str = ""
    link: str = ""  # symlink target
    device: tuple[int, int] = (0, 0)
    names: tuple[str, ...] = ()  # hard-link group (every name of the file), when > 1


def _relative(name: str, root: str) -> str:
    path = posixpath.normpath(name.lstrip("/"))
    if path == ".":
        return ""
    if root:
        if path == root:
            return ""
        if path.startswith(root + "/"):
            return path[len(root) + 1 :]
    return path


class _PieceReader:
    """A forward-only file object over an iterator of pieces. It remembers every piece it
    pulled (to pass them on unchanged) and feeds the bytes of one window, the current
    member's data, to a hash as they go by, whether read or skipped."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = memoryview(b"")
        self.pulled: list[bytes] = []
        self.pos = 0
        self._window = (0, 0)
        self._digest: Any = None

    def watch(self, start: int, size: int) -> Any:
        self._window = (start, start + size)
        self._digest = hashlib.sha256()
        return self._digest

    def _take(self, size: int) -> memoryview:
        while not self._buf:
            try:
                piece = next(self._pieces)
            except StopIteration:
                return memoryview(b"")
            self.pulled.append(piece)
            self._buf = memoryview(piece)
        chunk = self._buf[:size]
        self._buf = self._buf[len(chunk) :]
        lo, hi = max(self.pos, self._window[0]), min(self.pos + len(chunk), self._window[1])
        if lo < hi:
            self._digest.update(chunk[lo - self.pos : hi - self.pos])
        self.pos += len(chunk)
        return chunk

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else 1 << 62
        while wanted > 0 and (chunk := self._take(wanted)):
            parts.append(bytes(chunk))
            wanted -= len(chunk)
        return b"".join(parts)

    def skip(self, size: int) -> int:
        done = 0
        while done < size and (chunk := self._take(size - done)):
            done += len(chunk)
        return done

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self.pos:
            raise tarfile.ReadError("cannot seek backwards in a stream")
        if self.skip(offset - self.pos) < offset - self.pos:
            raise tarfile.ReadError("unexpected end of data")
        return self.pos

    def rest(self) -> Iterator[bytes]:
        """Every piece not pulled yet (the tar's trailing padding, and the source's end)."""
        yield from self._pieces


class TarListing:
    """Iterate to pass a tar's pieces through unchanged; afterwards :attr:`entries` holds
    what the tar describes. ``root`` is the tar directory that is the volume root (``data``
    for the archive API's view of ``/data``; ``""`` for DVOM's ``./`` entries).

    Headers are parsed by :mod:`tarfile` (ustar, GNU long names, pax); member data is never
    copied, only hashed while it passes, and pieces are handed on at least every MiB."""

    def __init__(self, pieces: Iterable[bytes], *, root: str = "data") -> None:
        self._pieces = iter(pieces)
        self._root = root
        self._entries: dict[str, Entry] = {}
        self._hardlinks: dict[str, str] = {}
        self._done = False

    @property
    def entries(self) -> dict[str, Entry]:
        if not self._done:
            raise RuntimeError("TarListing read before the tar was consumed")
        return self._entries

    def __iter__(self) -> Iterator[bytes]:
        reader = _PieceReader(self._pieces)
        try:
            tar = tarfile.TarFile(fileobj=reader, mode="r")  # type: ignore[arg-type]
            pending: tuple[str, Entry, Any] | None = None
            while True:
                member = tar.next()
                tar.members.clear()  # type: ignore[attr-defined]  # keep memory constant
                if pending:
                    path, entry, digest = pending
                    self._entries[path] = replace(entry, sha256=digest.hexdigest())
                    pending = None
                yield from _flush(reader)
                if member is None:
                    break
                pending = self._add(member, reader)
                end = tar.offset - 1  # tarfile reads the last byte before the next header
                while reader.pos < end:
                    if not reader.skip(min(_READ, end - reader.pos)):
                        raise tarfile.ReadError("unexpected end of data")
                    yield from _flush(reader)
        except tarfile.TarError as exc:
            raise IntegrityError(f"the archive is not a valid tar ({exc})") from None
        yield from _flush(reader)
        yield from reader.rest()
        self._resolve_hardlinks()
        self._done = True

    def _add(self, member: tarfile.TarInfo, reader: _PieceReader) -> tuple[str, Entry, Any] | None:
        """Record one member; a file's record waits for its data's hash (returned)."""
        path = _relative(member.name, self._root)
        kind = _KINDS.get(member.type, f"type-{member.type!r}")
        entry = Entry(kind, member.mode & 0o7777, member.uid, member.gid)
        if kind == "file":
            digest = reader.watch(member.offset_data, member.size)
            return path, replace(entry, size=member.size), digest
        if kind == "symlink":
            entry = replace(entry, link=member.linkname)
        elif kind == "hardlink":
            self._hardlinks[path] = _relative(member.linkname, self._root)
        elif kind.endswith("device"):
            entry = replace(entry, device=(member.devmajor, member.devminor))
        self._entries[path] = entry
        return None

    def _resolve_hardlinks(self) -> None:
        groups: dict[str, list[str]] = {}
        for path, first in self._hardlinks.items():
            groups.setdefault(first, [first]).append(path)
        for first, names in groups.items():
            target = self._entries.get(first)
            if target is None:  # a link to a name outside the tar: keep it as a link
                continue
            shared = replace(target, names=tuple(sorted(names)))
            for name in names:
                self._entries[name] = shared


def _flush(reader: _PieceReader) -> Iterator[bytes]:
    if reader.pulled:
        yield from reader.pulled
        reader.pulled.clear()


def listing_of(pieces: Iterable[bytes], *, root: str = "data") -> dict[str, Entry]:
    """Consume a tar stream and return what it describes."""
    listing = TarListing(pieces, root=root)
    for _piece in listing:
        pass
    return listing.entries


def _describe(path: str, want: Entry, got: Entry) -> str:
    shown = path or "/"
    fields = ("kind", "size", "sha256", "mode", "uid", "gid", "link", "device", "names")
    for name in fields:
        a, b = getattr(want, name), getattr(got, name)
        if a != b:
            if name == "mode":
                a, b = f"{a:o}", f"{b:o}"
            if name == "sha256":
                return f"{shown}: content differs"
            return f"{shown}: {name} {a} in the backup, {b} in the volume"
    return f"{shown}: differs"


def differences(expected: dict[str, Entry], actual: dict[str, Entry]) -> list[str]:
    """Human-readable differences, sorted by path; empty when the two trees are the same.

    The root is compared only when both sides describe it (a DVOM tar may not)."""
    out: list[str] = []
    for path in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(path), actual.get(path)
        if want is None:
            if path == "":
                continue
            out.append(f"{path}: in the volume but not in the backup")
        elif got is None:
            if path == "":
                continue
            out.append(f"{path}: in the backup but missing from the volume")
        elif want != got:
            out.append(_describe(path, want, got))
    return out
