"""Archive members read like files: a secret in ``bundle.zip``, a ``.jar``, a wheel or a ``.tar.gz`` is as
committed as one in a source file.

A member is named ``ARCHIVE!/MEMBER`` (the JAR-URL notation), nested archives ``outer.zip!/lib/inner.jar!/a.txt``,
so the path rules and filters that look at a file's name and folders (``(^|/).pgpass$``, ``tests/``) see the
member's own. Everything is read in memory, within limits that keep a hostile archive (a zip bomb, a header that
lies about sizes, a million empty members) bounded in memory and time:

* a member is read up to the scan's file-size limit (one byte more tells it is over; the header's size is not
  trusted), so no member costs more than a file of the same size would;
* at most :data:`MAX_MEMBERS` members and :data:`MAX_TOTAL` uncompressed bytes per archive named on disk, nested
  ones included, and a tar stream is not read past :data:`MAX_TOTAL` (skipping a member decompresses it);
* archives inside archives to :data:`DEFAULT_DEPTH` levels (``--max-archive-depth``; 0 reads no archive).

What cannot be read (an encrypted or corrupt member, an unsupported compression, a member over the limits) is
counted in the scan's stats as unreadable or too large, never silently dropped. Binary members (classes, images)
are not text to scan and are not counted: a ``.jar`` is mostly them.
"""

from __future__ import annotations

import io
import posixpath
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from scanner.words import printable

if TYPE_CHECKING:
    import tarfile

# zipfile, tarfile and the decompressors are imported when an archive is opened: the pre-commit hook imports this
# module and almost never meets an archive.

SEPARATOR = "!/"
SOURCE = "archive"  # the source of a member's chunk and findings (a fix cannot rewrite inside an archive)
DEFAULT_DEPTH = 3
MAX_MEMBERS = 20_000
MAX_TOTAL = 512 * 1024 * 1024
MAX_SECONDS = 30.0  # per archive named on disk (a 25 MiB jar reads in about a second)
HEAD = 512  # first bytes that tell an archive's kind (kind() needs 262 for tar)
MAX_HEADER = 64 * 1024  # a tar's long-name or pax header (a name, a few attributes) is never larger
# Zip members compressed with these are read with a bounded output; bzip2 and lzma members are not (Python's
# zipfile decompresses what it reads in one call, whatever it inflates to), so they are counted unreadable.
_ZIP_METHODS = (0, 8)  # stored, deflated

_COMPRESSED_SUFFIXES = {".gz", ".gzip", ".bz2", ".xz", ".tgz"}
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
_BZIP2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")  # after "BZh" and the level: a block, or the end of an empty stream


def _read_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged, hostile or unsupported archive may raise. Everything: zipfile and tarfile raise
    more than they document on crafted input (an ``IndexError`` from a truncated sparse header), and one bad archive
    must never end the scan of the rest."""
    return (Exception,)


# Names of archives a commit-side scan opens (git gives no first bytes there without reading the whole blob).
_ARCHIVE_NAME = (".zip", ".jar", ".war", ".ear", ".aar", ".apk", ".whl", ".egg", ".nupkg", ".vsix", ".xpi", ".ipa",
                 ".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".gz", ".bz2", ".xz")


def named_like_one(path: str) -> bool:
    """Whether a file's name says it is an archive (``.zip``, ``.jar``, ``.whl``, ``.tar.gz``…)."""
    return path.lower().endswith(_ARCHIVE_NAME)


def kind(head: bytes) -> str | None:
    """The archive format the first bytes announce (at least 262 of them for tar), else None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith((_GZIP, _XZ)) or (head.startswith(_BZIP2) and head[4:10] in _BZIP2_BLOCKS):
        return "compressed"  # a compressed tar, or one compressed file
    if head[257:262] == b"ustar":
        return "tar"
    return None


@dataclass
class Counts:
    """What an archive held that was not scanned, and what is left of its budget."""

    unreadable: int = 0
    too_large: int = 0
    budget_members: int = MAX_MEMBERS
    budget_bytes: int = MAX_TOTAL
    # How far into tar streams reading may go, nested ones included: skipping a member decompresses it, so a member
    # over the limit still costs its size in time. A tar.gz of one 100 GB run of zeros stops here.
    budget_stream: int = MAX_TOTAL
    # Wall-clock time one archive (nested ones included) may take; what is left when it runs out is counted too
    # large. Every other limit bounds memory and work per step; this bounds the number of steps.
    deadline: float = 0.0

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + MAX_SECONDS

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline


def members(source: Path | bytes, name: str, head: bytes, max_size: int, depth: int, counts: Counts
            ) -> Iterator[tuple[str, bytes]]:
    """(member path, its bytes) of every file in the archive ``source`` (a file, or its bytes: a staged blob) named
    ``name``, whose first bytes are ``head``, archives within it expanded to ``depth`` levels, in archive order.
    Over-limit and unreadable members are counted in ``counts``; an archive nested deeper than ``depth`` is given
    out as a member (binary, so not scanned)."""
    if depth <= 0 or kind(head) is None:
        return
    try:
        with (open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)) as fh:
            yield from _expand(fh, name, head, "", max_size, depth, counts)
    except _read_errors():  # the archive itself is damaged (members read before it stay reported)
        counts.unreadable += 1


def _expand(fh: IO[bytes], name: str, head: bytes, prefix: str, max_size: int, depth: int, counts: Counts
            ) -> Iterator[tuple[str, bytes]]:
    entries = _zip(fh, counts, max_size) if kind(head) == "zip" else _tar_or_single(fh, name, head, max_size, counts)
    for member, data in entries:
        if depth > 1 and kind(data[:512]) is not None:
            try:
                yield from _expand(io.BytesIO(data), posixpath.basename(member), data[:512],
                                   prefix + member + SEPARATOR, max_size, depth - 1, counts)
            except _read_errors():
                counts.unreadable += 1
            continue
        yield prefix + member, data


def _take(read: Callable[[int], bytes], size_hint: int, max_size: int, counts: Counts) -> bytes | None:
    """A member's bytes, or None (counted) when it is over a limit."""
    if counts.budget_members <= 0 or counts.out_of_time():
        counts.too_large += 1
        return None
    counts.budget_members -= 1
    if size_hint > max_size:
        counts.too_large += 1
        return None
    data = read(max_size + 1)
    if len(data) > max_size or len(data) > counts.budget_bytes:
        counts.too_large += 1
        return None
    counts.budget_bytes -= len(data)
    return data


def _zip(fh: IO[bytes], counts: Counts, max_size: int) -> Iterator[tuple[str, bytes]]:
    import zipfile

    errors = _read_errors()
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = _clean(info.filename)
            if counts.out_of_time():
                counts.too_large += 1
                return
            if info.flag_bits & 0x1 or info.compress_type not in _ZIP_METHODS:
                counts.unreadable += 1  # encrypted (no password to read it with), or no bounded way to inflate it
                continue
            try:
                with zf.open(info) as member:
                    data = _take(member.read, info.file_size, max_size, counts)
            except errors:
                counts.unreadable += 1
                continue
            if data is not None:
                yield name, data


def _tar_or_single(fh: IO[bytes], name: str, head: bytes, max_size: int, counts: Counts
                   ) -> Iterator[tuple[str, bytes]]:
    import tarfile

    try:
        with tarfile.open(fileobj=fh, mode="r:*", tarinfo=_bounded_tarinfo()) as tf:
            yield from _tar(tf, max_size, counts)
        return
    except tarfile.ReadError:
        if kind(head) != "compressed":
            raise
    # One compressed file, not a tar: its content is the only member, named after the archive without its
    # compression suffix (``dump.sql.gz!/dump.sql``), so rules that look at the name see the right one.
    fh.seek(0)
    with _decompressing(fh, head) as stream:
        data = _take(stream.read, 0, max_size, counts)
    if data is not None:
        stem, ext = posixpath.splitext(name)
        yield (stem if ext.lower() in _COMPRESSED_SUFFIXES and stem else name), data


def _decompressing(fh: IO[bytes], head: bytes) -> io.BufferedIOBase:
    import bz2
    import gzip
    import lzma

    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=fh)
    return bz2.BZ2File(fh) if head.startswith(_BZIP2) else lzma.LZMAFile(fh)


def _bounded_tarinfo() -> type[tarfile.TarInfo]:
    """A TarInfo that refuses what tarfile would read whole into memory or parse in quadratic time: a long-name or
    pax header over :data:`MAX_HEADER` (CVE-2024-6232 is a pax header of digits), and sparse members (their maps
    are re-parsed for every member). Refused, the rest of that tar is counted unreadable."""
    import tarfile

    special = {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
               tarfile.SOLARIS_XHDTYPE}

    class Bounded(tarfile.TarInfo):
        def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type == tarfile.GNUTYPE_SPARSE or (self.type in special and self.size > MAX_HEADER):
                raise tarfile.HeaderError("a header unleak does not read")
            return super()._proc_member(tarfile_)  # type: ignore[misc, no-any-return]

    return Bounded


def _tar(tf: tarfile.TarFile, max_size: int, counts: Counts) -> Iterator[tuple[str, bytes]]:
    try:
        yield from _tar_members(tf, max_size, counts)
    finally:
        counts.budget_stream -= tf.offset  # what this stream took is gone for the next one, nested or not


def _tar_members(tf: tarfile.TarFile, max_size: int, counts: Counts) -> Iterator[tuple[str, bytes]]:
    errors = _read_errors()
    while True:
        if counts.out_of_time() or counts.budget_members <= 0:
            counts.too_large += 1
            return
        try:
            info = tf.next()
        except errors:
            counts.unreadable += 1
            return
        tf.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every header read; none is looked at again
        if info is None:
            return
        if info.offset_data + max(info.size, 0) > counts.budget_stream:
            counts.too_large += 1  # the rest of the stream is not read (see Counts.budget_stream)
            return
        if not info.isreg():
            counts.budget_members -= 1  # a directory or a link costs a header read, like a member
            continue  # directories, links, devices: no content of their own
        try:
            member = tf.extractfile(info)
            data = _take(member.read, info.size, max_size, counts) if member is not None else None
        except errors:
            counts.unreadable += 1
            continue
        if data is not None:
            yield _clean(info.name), data


def _clean(name: str) -> str:
    """A member name as a relative POSIX path: backslashes of Windows-made zips become ``/``; empty, ``.`` and
    ``..`` segments are dropped; a control character (a line break, an escape sequence) becomes ``?``. It is only a
    name (nothing is extracted), so this keeps reports readable and a name from posing as a path outside the
    archive or as a line of its own."""
    name = printable(name)  # no control characters into any report
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "unnamed"


def split(path: str) -> tuple[str, str]:
    """(the archive file on disk, the member inside it) of a member's path ``a.zip!/b.jar!/c.txt`` (``a.zip``,
    ``b.jar!/c.txt``). The first separator ends the file's path: a folder whose name ends in ``!`` holding an
    archive is the one case this misreads."""
    archive, _, member = path.partition(SEPARATOR)
    return archive, member
