"""The restore re-check's comparison: two crafted tars, in-process."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable

import pytest

from promkit.core.errors import IntegrityError
from promkit.volume.compare import Entry, TarListing, differences, listing_of

Member = tuple[str, str, bytes | str]


def _tar(members: list[Member], *, mode: int = 0o644, uid: int = 0) -> bytes:
    """(name, kind, data-or-link) -> tar bytes; kind is file, dir, symlink or hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid = mode, uid, 0
            if kind == "file":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE}[kind]  # fmt: skip
            if kind in ("symlink", "hardlink"):
                assert isinstance(payload, str)
                info.linkname = payload
            tar.addfile(info)
    return buf.getvalue()


def _pieces(data: bytes, size: int = 700) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


TREE: list[Member] = [
    ("data", "dir", b""),
    ("data/a.txt", "file", b"hello" * 1000),
    ("data/.hidden", "file", b""),
    ("data/sub", "dir", b""),
    ("data/sub/link", "symlink", "../a.txt"),
    ("data/sub/hard", "hardlink", "data/a.txt"),
]


def test_listing_passes_every_byte_through_unchanged() -> None:
    raw = _tar(TREE) + b"\0" * 4096  # trailing padding after the end marker passes too
    listing = TarListing(_pieces(raw))
    assert b"".join(listing) == raw
    entries = listing.entries
    assert set(entries) == {"", "a.txt", ".hidden", "sub", "sub/link", "sub/hard"}
    a = entries["a.txt"]
    assert (a.kind, a.size, a.sha256) == ("file", 5000, hashlib.sha256(b"hello" * 1000).hexdigest())
    assert a.names == ("a.txt", "sub/hard") and entries["sub/hard"] == a
    assert entries["sub/link"] == Entry("symlink", 0o644, 0, 0, link="../a.txt")


def test_identical_trees_have_no_differences_whatever_the_root_or_piece_size() -> None:
    dvom: list[Member] = [(n.replace("data", ".", 1), k, p if k != "hardlink" else "./a.txt")
            for n, k, p in TREE]  # fmt: skip
    ours = listing_of(_pieces(_tar(TREE), 512))
    theirs = listing_of(_pieces(_tar(dvom), 100_000), root="")
    assert differences(ours, theirs) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("data/a.txt", "file", b"hellO" * 1000), "a.txt: content differs"),
        (("data/a.txt", "file", b"short"), "a.txt: size 5000 in the backup, 5 in the volume"),
        (("data/sub/link", "symlink", "elsewhere"), "sub/link: link ../a.txt in the backup"),
        (("data/sub/link", "file", b""), "sub/link: kind symlink in the backup, file in"),
    ],
)
def test_a_changed_entry_is_named(change: Member, expected: str) -> None:
    changed = [change if m[0] == change[0] else m for m in TREE]
    diffs = differences(listing_of([_tar(TREE)]), listing_of([_tar(changed)]))
    assert any(d.startswith(expected) for d in diffs), diffs


def test_missing_extra_mode_and_owner_differences_are_named() -> None:
    want = listing_of([_tar(TREE)])
    assert differences(want, listing_of([_tar(TREE[:-2])])) == [
        "a.txt: names ('a.txt', 'sub/hard') in the backup, () in the volume",
        "sub/hard: in the backup but missing from the volume",
        "sub/link: in the backup but missing from the volume",
    ]
    extra = listing_of([_tar([*TREE, ("data/new", "file", b"x")])])
    assert differences(want, extra) == ["new: in the volume but not in the backup"]
    modes = differences(want, listing_of([_tar(TREE, mode=0o600)]))
    assert "a.txt: mode 644 in the backup, 600 in the volume" in modes
    owners = differences(want, listing_of([_tar(TREE, uid=999)]))
    assert "sub: uid 0 in the backup, 999 in the volume" in owners


def test_a_broken_hard_link_group_is_named() -> None:
    copy: Member = ("data/sub/hard", "file", b"hello" * 1000)
    split = [m if m[0] != "data/sub/hard" else copy for m in TREE]
    diffs = differences(listing_of([_tar(TREE)]), listing_of([_tar(split)]))
    assert diffs and all("names" in d for d in diffs)


def test_not_a_tar_is_an_integrity_error_and_entries_need_a_full_read() -> None:
    with pytest.raises(IntegrityError, match="not a valid tar"):
        listing_of([b"x" * 1024])
    with pytest.raises(RuntimeError):
        _ = TarListing([_tar(TREE)]).entries


def test_a_large_file_is_passed_on_while_it_is_hashed() -> None:
    """Bounded memory: pieces go out at least every MiB, never a whole file at once."""
    big = bytes(range(256)) * (5 * 4096)  # 5 MiB
    raw = _tar([("data", "dir", b""), ("data/big", "file", big)])
    pulled = [0]

    def source() -> Iterable[bytes]:
        for piece in _pieces(raw, 64 << 10):
            pulled[0] += 1
            yield piece

    held = []
    out = 0
    for _piece in TarListing(source()):
        out += 1
        held.append(pulled[0] - out)
    assert out == pulled[0] and max(held) <= (1 << 20) // (64 << 10) + 2
