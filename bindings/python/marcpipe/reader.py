"""marcpipe.MARCReader: pymarc 5.x's MARCReader on the multi-threaded pipeline."""

from __future__ import annotations

import atexit
import codecs
import io
import os
import stat
import weakref
from typing import Any, Callable, Optional

from . import _marcpipe
from .record import Record

__all__ = ["MARCReader", "Pool", "map_records"]

Pool = _marcpipe.Pool

_SOURCE_HELP = (
    "MARCReader source must be a path (str or os.PathLike), a bytes-like object "
    "(bytes, bytearray, memoryview, ...) or a binary file object with readinto() or read()"
)

# Readers whose producer thread calls back into Python are closed before the
# interpreter finalizes (a callback then could not take the GIL).
_callback_readers: "weakref.WeakSet[MARCReader]" = weakref.WeakSet()


@atexit.register
def _close_callback_readers() -> None:
    for r in list(_callback_readers):
        try:
            r.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _classify(source: Any):
    """-> (kind, C source, base offset, file object or None)."""
    if isinstance(source, (str, os.PathLike)):
        return "path", os.fspath(source), 0, None
    if isinstance(source, io.TextIOBase):
        raise TypeError(
            f"{_SOURCE_HELP}; got a text-mode file ({type(source).__name__}): open it with 'rb'"
        )
    try:
        memoryview(source).release()
        return "mem", source, 0, None
    except TypeError:
        pass
    if hasattr(source, "readinto") or hasattr(source, "read"):
        mode = getattr(source, "mode", None)
        if isinstance(mode, str) and "b" not in mode and "r" in mode:
            raise TypeError(f"{_SOURCE_HELP}; got a file opened in text mode {mode!r}")
        fd = None
        try:
            fd = source.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is not None and fd >= 0:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and getattr(source, "seekable", lambda: False)():
                # The reader reads the descriptor from the object's logical
                # position (a buffered object may have read ahead).
                pos = source.tell()
                os.lseek(fd, pos, os.SEEK_SET)
                return "fd", (fd, source), pos, source
            if isinstance(source, io.FileIO):
                # Unbuffered: nothing read ahead, the descriptor is exact.
                return "fd", (fd, source), None, source
        kind = "readinto" if hasattr(source, "readinto") else "read"
        return kind, source, None, source
    raise TypeError(f"{_SOURCE_HELP}; got {type(source).__name__}")


class MARCReader(_marcpipe.ReaderBase):
    """Iterates the MARC 21 / ISO 2709 records of a source, like pymarc's MARCReader.

    ``source``: a path (``str`` / ``os.PathLike``), a bytes-like object, or a
    binary file object (``readinto()``/``read()``: files, ``BytesIO``,
    ``sys.stdin.buffer``, ``socket.makefile("rb")``). Yields a
    :class:`Record`, or ``None`` for a bad unit, with ``current_exception``
    (an exception named as pymarc names it, with ``.offset``, ``.ordinal``...)
    and ``current_chunk`` (its raw bytes). Unlike pymarc, the stream always
    goes on after a bad unit. ``strict=True`` raises the exception instead.

    Keyword-only: ``threads`` (private pool workers; default: one fewer than the usable CPUs,
    at least one - the thread iterating parses too while it would wait),
    ``chunk_size`` (bytes per pipeline chunk), ``ordered`` (False: records in
    completion order), ``pool`` (a shared :class:`Pool`), ``strict``, ``mode``:
    ``"auto"`` (default: the library reads inputs under 1 MiB, and everything
    on a one-CPU machine, sequentially on the calling thread, where starting
    the pipeline would cost more than it saves; else the pipeline),
    ``"pipeline"`` or ``"sequential"``. ``stats()["mode"]`` and
    ``["mode_reason"]`` say which path ran and why.

    ``hide_utf8_warnings`` and ``permissive`` are accepted for pymarc
    compatibility and have no effect (marcpipe is always permissive).

    One reader is iterated by one thread at a time: a second thread calling
    ``next()`` while another is inside it gets ``RuntimeError``. Different
    readers may be used from different threads freely, also on one Pool.
    """

    def __init__(
        self,
        marc_target: Any,
        to_unicode: bool = True,
        force_utf8: bool = False,
        hide_utf8_warnings: bool = False,
        utf8_handling: str = "strict",
        file_encoding: str = "iso8859-1",
        permissive: bool = False,
        *,
        threads: Optional[int] = None,
        chunk_size: Optional[int] = None,
        ordered: bool = True,
        pool: Optional[_marcpipe.Pool] = None,
        strict: bool = False,
        mode: str = "auto",
    ) -> None:
        kind, src, base, fobj = _classify(marc_target)
        self.to_unicode = to_unicode
        self.force_utf8 = force_utf8
        self.hide_utf8_warnings = hide_utf8_warnings
        self.utf8_handling = utf8_handling
        self.file_encoding = file_encoding
        self.permissive = permissive
        self.file_handle = fobj
        self._kind = kind
        self._base = base
        self._path = src if kind == "path" else None
        codec = None
        if to_unicode and not force_utf8 and codecs.lookup(file_encoding).name != "iso8859-1":
            codec = file_encoding
        if threads is not None and threads < 0:
            raise ValueError("threads must be >= 0")
        self._open(
            kind,
            src,
            to_unicode=bool(to_unicode),
            force_utf8=bool(force_utf8),
            utf8_handling=utf8_handling,
            file_codec=codec,
            threads=threads or 0,
            chunk_size=chunk_size or 0,
            ordered=bool(ordered),
            pool=pool,
            strict=bool(strict),
            record_cls=Record,
            mode=mode,
        )
        if kind in ("read", "readinto"):
            _callback_readers.add(self)

    @property
    def current_chunk(self) -> Optional[bytes]:
        """Raw bytes of the last unit (bad or good), when they can be had.

        For a bad record these are the bytes the pipeline framed. For a good
        record, and for skipped spans, they are read back from the source:
        available for paths, memory and regular files, ``None`` for streams.
        """
        raw = self._current_raw
        if raw is not None:
            return raw
        span = self._current_span
        if span is None:
            return None
        off, length = span
        try:
            if self._kind == "mem":
                with memoryview(self._source) as mv:
                    return bytes(mv.cast("B")[off : off + length])
            if self._kind == "path":
                with open(self._path, "rb") as f:
                    f.seek(off)
                    return f.read(length)
            if self._kind == "fd" and self._base is not None:
                return os.pread(self.file_handle.fileno(), length, self._base + off)
        except (OSError, ValueError, TypeError):
            return None
        return None

    def close(self) -> None:
        """Stops the pipeline (threads joined, memory freed). Like pymarc, also closes
        the file object the reader was given. Idempotent."""
        super().close()
        fh = getattr(self, "file_handle", None)
        if fh is not None and hasattr(fh, "close"):
            try:
                fh.close()
            except Exception:
                pass

    def __enter__(self) -> "MARCReader":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False


def map_records(f: Callable[[Optional[Record]], Any], *files: Any) -> None:
    """Applies f to each record of each source (pymarc's map_records)."""
    for file in files:
        list(map(f, MARCReader(file)))
