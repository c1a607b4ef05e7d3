"""pymarc 5.x's readers on the multi-threaded pipeline.

``MARCReader`` (ISO 2709), ``JSONReader`` (MARC-in-JSON), ``MARCMakerReader``
(MARCMaker text) and marcpipe's ``MARCXMLReader`` (MARCXML, also inside
OAI-PMH envelopes). Every record is framed by the pipeline's scanner and
parsed by its workers in C (stages/FRAMING.md); the same Record class comes
out of all of them.
"""

from __future__ import annotations

import atexit
import codecs
import io
import locale
import os
import re
import socket
import stat
import weakref
from typing import Any, Callable, Iterator, Optional, Tuple, Union

from . import _marcpipe
from .exceptions import PymarcException
from .field import Field, Indicators, Subfield
from .leader import Leader
from .record import Record
from .split import Split

__all__ = ["MARCReader", "JSONReader", "MARCMakerReader", "MARCXMLReader", "Pool", "map_records"]

Pool = _marcpipe.Pool

_SOURCE_HELP = (
    "MARCReader source must be a path (str or os.PathLike), a bytes-like object "
    "(bytes, bytearray, memoryview, ...) or a binary file object with readinto() or read()"
)

# Readers whose producer thread calls back into Python are closed before the
# interpreter finalizes (a callback then could not take the GIL). close()
# returns promptly even when a read is stuck (a quiet pipe, Ctrl-C in next()):
# the stuck read is abandoned, and from _at_exit() on nothing that finishes
# later touches the interpreter.
_callback_readers: "weakref.WeakSet[MARCReader]" = weakref.WeakSet()
# Every open reader, for the fork handler.
_live_readers: "weakref.WeakSet[MARCReader]" = weakref.WeakSet()


@atexit.register
def _close_callback_readers() -> None:
    _marcpipe._at_exit()
    for r in list(_callback_readers):
        try:
            r.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


def _after_fork_in_child() -> None:
    """A forked child has none of the pipeline threads of its parent's readers:
    they become unusable there (next() raises RuntimeError saying so), close()
    returns at once, and the child's own new readers work."""
    for r in list(_live_readers):
        try:
            r._forked()
        except Exception:  # pragma: no cover - nothing useful to do in a child
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)


def _never_blocks(source: Any) -> bool:
    """True when reading `source` cannot wait for data: memory, or a regular file
    underneath. Otherwise (pipes, sockets, terminals, unknown objects) the reader
    uses readinto1()/read1(), which return what has arrived instead of waiting
    for a whole buffer, so a record on a quiet stream comes out at once."""
    if isinstance(source, io.BytesIO):
        return True
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    try:
        return fd >= 0 and stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _poll_fd(source: Any) -> int:
    """The descriptor to wait on before each read, or -1.

    Only for a plain ``io.BufferedReader`` over a ``FileIO`` or a plain
    socket's ``SocketIO`` (``sys.stdin.buffer``, ``socket.makefile("rb")``):
    there a readable descriptor means ``readinto1`` returns without blocking,
    so the reader never waits inside it holding the file's lock (a close would
    have to abandon that read, and CPython aborts at exit while a thread holds
    the lock of ``sys.stdin``). Other objects (TLS, decompressors, custom
    classes) may hold data the descriptor does not show: they are read
    directly. Bytes already in the BufferedReader's buffer when the reader is
    created arrive with the next bytes on the descriptor, or its end.
    """
    if type(source) is not io.BufferedReader:
        return -1
    raw = source.raw
    if type(raw) is socket.SocketIO:
        if type(getattr(raw, "_sock", None)) is not socket.socket:
            return -1
    elif type(raw) is not io.FileIO:
        return -1
    try:
        fd = source.fileno()
        return fd if fd >= 0 and not stat.S_ISREG(os.fstat(fd).st_mode) else -1
    except (OSError, ValueError):
        return -1


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
        eager = not _never_blocks(source)
        for kind in ("readinto1", "read1") if eager else ():
            if callable(getattr(source, kind, None)):
                return kind, source, None, source
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
    goes on after a bad unit. A record whose content is readable despite an
    anomaly (missing indicators, a bare subfield delimiter, a non-ASCII
    subfield code, text repaired under ``utf8_handling="replace"``, invalid
    MARC-8 replaced with U+FFFD, ...) is yielded with ``record.warnings``;
    a bad subfield code is also reported with ``warnings.warn``
    (:class:`BadSubfieldCodeWarning`, as pymarc does) and the others on the
    ``marcpipe`` logger. ``stages/FRAMING.md`` lists every check.

    Keyword-only: ``threads`` (private pool workers; default: one fewer than the usable CPUs,
    at least one - the thread iterating parses too while it would wait),
    ``chunk_size`` (bytes per pipeline chunk), ``ordered`` (False: records in
    completion order), ``pool`` (a shared :class:`Pool`), ``strict`` (True:
    every warning is an error, and a bad unit raises its exception instead
    of yielding ``None``), ``marc8_double`` (the MARC-8 ligature and double
    tilde halves 0xEB/0xEC, 0xFA/0xFB: ``"halves"``, the default, gives
    pymarc's U+FE20-U+FE23, one combining half per half; ``"combined"``
    gives the Library of Congress's preferred U+0361/U+0360 after the first
    letter, as yaz and the C library's default do). ``mode``:
    ``"auto"`` (default: the library reads inputs under 1 MiB, and everything
    on a one-CPU machine, sequentially on the calling thread, where starting
    the pipeline would cost more than it saves; else the pipeline),
    ``"pipeline"`` or ``"sequential"``. ``stats()["mode"]`` and
    ``["mode_reason"]`` say which path ran and why.

    Byte ranges: ``range_start`` / ``range_end`` (``None``: the end) read only
    the units (records and bad units) that *begin* in ``[range_start,
    range_end)``, reading past the end to finish the last one; the readers of
    any partition of a file together yield exactly the whole file's units
    (see :func:`marcpipe.splits`, which plans ranges cheaply). A
    :class:`marcpipe.Split` may be given as the source instead. Offsets stay
    the file's; ordinals count from ``first_ordinal`` (default 0), and
    ``units`` says how many units the reader read (the next range's
    ``first_ordinal`` for file-wide ordinals). Paths, memory and regular
    files are read from near ``range_start``; streams are read from their
    start and what precedes the range is dropped.


    ``hide_utf8_warnings`` keeps MARC-8/UTF-8 repairs off the logger (they
    stay in ``record.warnings``); ``permissive`` is accepted for pymarc
    compatibility and has no effect (marcpipe is always permissive).

    The source must be ISO 2709: when its first bytes look like MARCXML,
    MARC-in-JSON or MARCMaker, the first ``next()`` raises
    :class:`~marcpipe.exceptions.InputFormatError` (one clear error, not one
    per unit); read those with :class:`MARCXMLReader` /
    ``parse_xml_to_array``, :class:`JSONReader`, :class:`MARCMakerReader`.

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
        range_start: Optional[int] = None,
        range_end: Optional[int] = None,
        first_ordinal: int = 0,
        marc8_double: str = "halves",
        mode: str = "auto",
    ) -> None:
        if isinstance(marc_target, Split):
            if range_start is not None or range_end is not None:
                raise ValueError("a Split carries its range: do not give range_start/range_end")
            if marc_target.path is None:
                raise ValueError("this Split describes in-memory data: pass the data itself "
                                 "with range_start/range_end")
            marc_target, range_start, range_end = marc_target
        start = 0 if range_start is None else int(range_start)
        end = 0 if range_end is None else int(range_end)
        if start < 0 or end < 0 or first_ordinal < 0:
            raise ValueError("range_start, range_end and first_ordinal must be >= 0")
        if range_end is not None and end < start:
            raise ValueError(f"range_end ({end}) is before range_start ({start})")
        if range_end is not None and end == start:
            start = end = 2**64 - 1  # an empty range: nothing begins in it
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
            range_start=start,
            range_end=end,
            first_ordinal=int(first_ordinal),
            poll_fd=_poll_fd(fobj) if kind in ("readinto1", "read1") else -1,
            marc8_double=marc8_double,
            hide_utf8_warnings=bool(hide_utf8_warnings),
            format="iso2709",
            mode=mode,
        )
        if kind in ("read", "readinto", "read1", "readinto1"):
            _callback_readers.add(self)
        _live_readers.add(self)

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
        """Stops the pipeline and frees its memory. Like pymarc, also closes the
        file object the reader was given - once the pipeline no longer uses it.
        Idempotent, and callable from any thread (while another one iterates).

        Returns within about 0.15 s whatever the source is doing. A read that
        cannot be interrupted (``readinto`` on a quiet pipe or socket, holding
        the file's lock) is left to finish on its own: the file object is then
        closed, and released, when that read returns."""
        fh = getattr(self, "file_handle", None)
        super().close(fh if fh is not None and hasattr(fh, "close") else None)

    def __enter__(self) -> "MARCReader":
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False


def map_records(f: Callable[[Optional[Record]], Any], *files: Any) -> None:
    """Applies f to each record of each source (pymarc's map_records)."""
    for file in files:
        list(map(f, MARCReader(file)))


# ---- the text formats ----------------------------------------------------------

_XML_DECL = re.compile(rb"^(\xef\xbb\xbf)?(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\3")


def _utf8_text(text: str, xml: bool) -> bytes:
    """Text (already decoded by Python) as the UTF-8 bytes the pipeline reads.

    An XML declaration that names another encoding is rewritten to UTF-8,
    since the bytes are UTF-8 now."""
    data = text.encode("utf-8", "surrogateescape")
    if xml:
        data = _XML_DECL.sub(lambda m: (m.group(1) or b"") + m.group(2) + b'"UTF-8"', data, 1)
    return data


def _is_utf8(encoding: Optional[str]) -> bool:
    enc = encoding or locale.getpreferredencoding(False)
    return codecs.lookup(enc).name in ("utf-8", "utf-8-sig")


def _text_source(target: Any, encoding: Optional[str], content_strings: bool, xml: bool):
    """-> (kind, C source, base offset, file object or None) for a text format.

    ``target``: a path (str / os.PathLike); for JSON and MARCMaker also a str
    that is not an existing path, which is then the content itself (pymarc's
    rule); a bytes-like object (UTF-8 content); a binary file object (read
    by the pipeline as it is); a text file object (its text is read here).
    Files in another encoding than UTF-8 are decoded here and handed over as
    UTF-8."""
    if isinstance(target, os.PathLike) or (isinstance(target, str) and not content_strings):
        target = os.fspath(target)
        if isinstance(target, bytes) or xml or _is_utf8(encoding):
            return "path", target, 0, None
        with open(target, encoding=encoding) as fh:
            return "mem", _utf8_text(fh.read(), xml), 0, None
    if isinstance(target, str):
        try:
            exists = os.path.exists(target)
        except (OSError, ValueError):
            exists = False
        if exists:
            return _text_source(os.fspath(target), encoding, False, xml)
        return "mem", _utf8_text(target, xml), 0, None
    if isinstance(target, io.TextIOBase) or (
        hasattr(target, "read") and isinstance(getattr(target, "encoding", None), str)
    ):
        text = target.read()
        if isinstance(text, str):
            return "mem", _utf8_text(text, xml), 0, target
        return "mem", bytes(text), 0, target
    if isinstance(target, (bytes, bytearray, memoryview)) or not hasattr(target, "read"):
        return _classify(target)
    kind, src, base, fobj = _classify(target)
    if not xml and not _is_utf8(encoding):
        data = fobj.read() if fobj is not None else b""
        return "mem", _utf8_text(bytes(data).decode(encoding or "utf-8"), xml), 0, fobj
    return kind, src, base, fobj


class _TextReader(MARCReader):
    """A reader of one of the text formats (MARCXML, MARC-in-JSON, MARCMaker).

    A bad record raises its exception from ``next()``, as pymarc's readers
    raise - but the stream goes on: calling ``next()`` again gives the
    next record. ``permissive=True`` yields ``None`` instead and keeps the
    exception in ``current_exception`` (MARCReader's way). What leaves a
    record readable (an empty or control-character indicator, a space as
    subfield code...: stages/FRAMING.md) is a warning in
    ``record.warnings``; ``strict=True`` makes it the record's error.
    """

    _FORMAT = ""
    _CONTENT_STRINGS = True

    def __init__(
        self,
        target: Any,
        encoding: Optional[str] = "utf-8",
        *,
        threads: Optional[int] = None,
        chunk_size: Optional[int] = None,
        ordered: bool = True,
        pool: Optional[_marcpipe.Pool] = None,
        permissive: bool = False,
        strict: bool = False,
    ) -> None:
        kind, src, base, fobj = _text_source(
            target, encoding, self._CONTENT_STRINGS, self._FORMAT == "marcxml"
        )
        self.encoding = encoding
        self.permissive = permissive
        self.to_unicode = True
        self.force_utf8 = False
        self.hide_utf8_warnings = False
        self.utf8_handling = "strict"
        self.file_encoding = "utf-8"
        self.file_handle = fobj
        self._kind = kind
        self._base = base
        self._path = src if kind == "path" else None
        if threads is not None and threads < 0:
            raise ValueError("threads must be >= 0")
        self._open(
            kind,
            src,
            threads=threads or 0,
            chunk_size=chunk_size or 0,
            ordered=bool(ordered),
            pool=pool,
            strict=bool(strict),
            raise_errors=not permissive,
            record_cls=Record,
            format=self._FORMAT,
        )
        if kind in ("read", "readinto"):
            _callback_readers.add(self)

    def __enter__(self) -> "_TextReader":
        return self


class MARCXMLReader(_TextReader):
    """Iterates the records of a MARCXML document on the pipeline (marcpipe).

    ``source``: a path, a bytes-like object, or a file object (binary, or
    text: then its text is read first). One ``<record>`` element per record,
    with any prefix, in a ``<collection>``, bare, or inside an envelope such
    as an OAI-PMH response; no DTD is loaded and no entity beyond XML's five
    is expanded (an XXE or "billion laughs" document yields errors, fast).
    A record that is not well-formed raises
    :class:`~marcpipe.exceptions.RecordSyntaxError` (other damage: the
    pymarc exception of its kind) and the next ``next()`` goes on with the
    following record; ``permissive=True`` yields ``None`` instead. pymarc's
    functions ``parse_xml_to_array``, ``map_xml`` and ``parse_xml`` run on
    this reader. Keyword-only: ``threads``, ``chunk_size``, ``ordered``,
    ``pool``, ``strict`` (warnings are errors) as for MARCReader.
    """

    _FORMAT = "marcxml"
    _CONTENT_STRINGS = False

    def __init__(self, source: Any, **kwargs: Any) -> None:
        super().__init__(source, None, **kwargs)


class JSONReader(_TextReader):
    """pymarc's JSONReader: MARC-in-JSON records, parsed in the pipeline's workers.

    ``marc_target``: a path, JSON text (a ``str`` that is not an existing
    path, as in pymarc), a bytes-like object or a file object; one record
    per line (NDJSON), a JSON array of records, or one record. ``encoding``
    is the encoding of a file given by path or binary handle (default
    UTF-8). ``stream`` is accepted for pymarc compatibility: marcpipe
    always streams (the document is never loaded whole). A record that is
    not valid JSON or not a MARC-in-JSON record raises its exception
    (:class:`~marcpipe.exceptions.RecordSyntaxError`, ``FieldNotFound``...)
    and iteration may go on after it; ``permissive=True`` yields ``None``
    instead. Raw control characters inside strings are accepted, as
    ``json.load(strict=False)`` accepts them.
    """

    _FORMAT = "json"

    def __init__(
        self,
        marc_target: Union[bytes, str, Any],
        encoding: str = "utf-8",
        stream: bool = False,
        **kwargs: Any,
    ) -> None:
        self.stream = stream
        super().__init__(marc_target, encoding, **kwargs)


class MARCMakerReader(_TextReader):
    """pymarc's MARCMakerReader: MARCMaker text (``=LDR  ...`` lines) on the pipeline.

    ``target``: a path, the text itself (a ``str`` that is not an existing
    path), a bytes-like object or a file object; ``encoding``: of a file
    given by path (default UTF-8; ``None``: the locale's, as ``open()``).
    Records are separated by blank lines (or start at an ``=LDR`` line);
    ``$`` separates subfields; ``\\`` is a blank in the leader, control
    fields and indicators (MARCMaker's convention; pymarc keeps the
    backslash there). A line that is not ``=TAG  data`` raises
    ``PymarcException('Unable to parse line "..."')`` as pymarc does, and
    iteration may go on after it; ``permissive=True`` yields ``None``.
    """

    _FORMAT = "mrk"

    def __init__(self, target: Union[bytes, str, Any], encoding: Optional[str] = "utf-8",
                 **kwargs: Any) -> None:
        permissive = kwargs.pop("permissive", False)
        super().__init__(target, encoding, permissive=True, **kwargs)
        self.permissive = permissive

    def __next__(self) -> Optional[Record]:
        record = super().__next__()
        if record is not None or self.permissive:
            return record
        exc = self.current_exception
        chunk = self.current_chunk
        if chunk is not None:
            for line in chunk.decode("utf-8", "replace").splitlines():
                try:
                    self._parse_line(line)
                except Exception as err:
                    raise PymarcException(f'Unable to parse line "{line}"') from err
        raise exc  # type: ignore[misc]

    def __iter__(self) -> Iterator[Optional[Record]]:  # type: ignore[override]
        return self

    @staticmethod
    def _parse_line(line: str) -> Union[Leader, Field]:
        """One MARCMaker line as a Leader or a Field (pymarc's ``_parse_line``).

        The rules are the C parser's (stages/src/fmt_mrk.c), for code that
        parses single lines; records are parsed in the pipeline. ValueError
        for a line that does not start with "=" or whose tag is not followed
        by two spaces."""
        if not line or line[0] != "=":
            raise ValueError('Line should start with a "=".')
        if line[4:6] != "  ":
            raise ValueError("Tag should be separated from the rest of the field by two spaces.")
        tag, data = line[1:4], line[6:]
        if tag == "LDR":
            return Leader(data.replace("\\", " "))
        if tag < "010":
            return Field(tag, data=data.replace("\\", " "))
        # fewer than two indicators: blanks (a warning in the pipeline)
        ind = Indicators(*(" " if c == "\\" else c for c in (data[:2] + "  ")[:2]))
        rest = data[2:]
        subfields = []
        if rest:
            if rest[0] != "$":
                raise ValueError('Subfields should start with a "$".')
            for piece in rest[1:].split("$"):
                if piece:  # "$$" or a last "$": no subfield (a warning in the pipeline)
                    subfields.append(Subfield(piece[0], piece[1:]))
        return Field(tag, indicators=ind, subfields=subfields)
