"""Byte-range splits of a MARC file, for reading one file with many readers.

    import marcpipe
    for s in marcpipe.splits("big.mrc", parts=8):      # cheap: no parsing
        with marcpipe.MARCReader(s) as reader:          # or range_start=s.start, range_end=s.end
            for record in reader:
                ...

A reader given a range yields exactly the records and bad units that *begin*
in it (it reads past the end to finish the last one), so the readers of any
partition of a file together yield exactly what one reader of the whole file
yields: same records, same bad units, same offsets. Where the range starts in
the middle of a record, the reader finds the next unit the whole-file read
would find (stages/FRAMING.md, "Byte ranges"). Offsets are the file's;
ordinals count from the reader's ``first_ordinal`` (0 by default).
"""

from __future__ import annotations

import os
import re
from typing import Any, List, NamedTuple, Optional, Union

from . import _marcpipe

__all__ = ["Split", "splits", "parse_bytes"]

DEFAULT_BLOCKSIZE = 64 * 1024 * 1024


class Split(NamedTuple):
    """One byte range ``[start, end)`` of ``path`` (``None`` for in-memory data).

    Pass it to :class:`marcpipe.MARCReader` as the source (paths only), or
    its ``start``/``end`` as ``range_start``/``range_end``. Picklable: a
    Split is what a distributed task needs to read its part.
    """

    path: Optional[str]
    start: int
    end: int


_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
    "ti": 1024**4, "tib": 1024**4,
}


def parse_bytes(size: Union[int, str]) -> int:
    """``64 * 2**20``, ``"64MiB"``, ``"100 MB"``, ``"1e6"`` -> bytes (Dask's spelling)."""
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"a size must be positive, not {size}")
        return size
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(size))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {size!r} (e.g. 64MiB, 100MB, 1048576)")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ValueError(f"a size must be positive, not {size!r}")
    return n


def splits(
    source: Any,
    parts: Optional[int] = None,
    blocksize: Union[int, str, None] = None,
    *,
    search_limit: Optional[int] = None,
) -> List[Split]:
    """Plans byte ranges of a MARC file without parsing it.

    ``source``: a path (``str`` / ``os.PathLike``), a bytes-like object, or
    a binary file object of a regular file (offsets then count from its
    current position, as :class:`MARCReader` reads it). Give ``parts`` (at
    most that many ranges) or ``blocksize`` (about that many bytes per range:
    an int or a string such as ``"64MiB"``); neither: 64 MiB.

    Returns consecutive :class:`Split` ranges covering the whole input; every
    range after the first starts on a record (the first anchor - a record
    terminator followed by a leader - at or after its cut, searched for at
    most ``search_limit`` bytes, default 1 MiB). Cuts that land on the same
    record merge, so there may be fewer ranges than ``parts``. Reads a few
    hundred bytes per cut: a 2 GB file is planned in milliseconds.

    Raises ``ValueError`` for both ``parts`` and ``blocksize``, or for a
    source that cannot be read at an offset (a pipe); ``OSError`` for a
    missing or unreadable file.
    """
    if parts is not None and blocksize is not None:
        raise ValueError("give parts or blocksize, not both")
    if parts is not None and (not isinstance(parts, int) or parts < 1):
        raise ValueError(f"parts must be a positive int, not {parts!r}")
    target = parse_bytes(blocksize) if blocksize is not None else 0
    path: Optional[str] = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        src: Any = path
    elif hasattr(source, "fileno") and not isinstance(source, (bytes, bytearray, memoryview)):
        fd = source.fileno()
        # The plan counts from the object's logical position (a buffered
        # object may have read ahead of its descriptor).
        try:
            pos = source.tell()
        except OSError as e:  # a pipe or socket
            raise ValueError(f"cannot split a stream that cannot seek: {e}") from None
        os.lseek(fd, pos, os.SEEK_SET)
        src = fd
        name = getattr(source, "name", None)
        # The ranges are file offsets (and the Split usable as a path) only
        # when the object is at the start of its file.
        path = name if isinstance(name, str) and pos == 0 else None
    else:
        src = source
    _size, ranges = _marcpipe._split_plan(
        src, parts=parts or 0, target_bytes=target, search_limit=search_limit or 0
    )
    return [Split(path, a, b) for a, b in ranges]
