"""Where marcpipe behaves as pymarc 5.x does with a damaged record.

The C reader decides what is a record (with warnings) and what is an error
item (stages/FRAMING.md, "Checks"); the C reader, the CLI and this binding
agree on it. This module only names things the way pymarc names them:

- an error item becomes the exception class pymarc would raise for those
  bytes: pymarc's reader framing rules (5-digit length, truncation, the end
  of record byte) for a skipped span, pymarc's ``decode_marc`` checks in
  its order for a record (``make_error``);
- a warning becomes a :class:`RecordWarning` (a :class:`BadSubfieldCodeWarning`
  for a subfield code), and is emitted as pymarc does: ``warnings.warn`` for
  subfield codes, the ``marcpipe`` logger for the rest (``warning_hook``).
Rare units only: speed is not a goal here.
"""

from __future__ import annotations

import logging
import warnings
from typing import Iterator, List, Optional, Tuple, Type

from . import _marcpipe
from .exceptions import (
    BadSubfieldCodeWarning,
    BaseAddressInvalid,
    BaseAddressNotFound,
    EndOfRecordNotFound,
    FatalReaderError,
    FieldNotFound,
    FilterError,
    IndicatorInvalid,
    JunkSkipped,
    Marc8DecodeError,
    NoFieldsFound,
    PymarcException,
    RecordDirectoryInvalid,
    RecordLeaderInvalid,
    RecordLengthInvalid,
    RecordMemoryError,
    RecordTooBig,
    RecordUnicodeDecodeError,
    RecordValueError,
    RecordWarning,
    SubfieldInvalid,
    TruncatedRecord,
)

logger = logging.getLogger("marcpipe")

# C error kind (mp_error_kind_name) -> class, used when pymarc's own checks do
# not single out a class. Covers every kind (test_compat checks it against
# the extension): NONE and IO end the stream instead of arriving as items,
# and are listed so that the table stays total.
KIND_CLASS = {
    "NONE": PymarcException,
    "LENGTH": RecordLengthInvalid,
    "TERMINATOR": EndOfRecordNotFound,
    "JUNK": JunkSkipped,
    "TRUNCATED": TruncatedRecord,
    "TOO_BIG": RecordTooBig,
    "LEADER": RecordLeaderInvalid,
    "BASE_ADDRESS": BaseAddressInvalid,
    "DIRECTORY": RecordDirectoryInvalid,
    "FIELD": FieldNotFound,
    "INDICATOR": IndicatorInvalid,
    "SUBFIELD": SubfieldInvalid,
    "ENCODING": RecordUnicodeDecodeError,
    "MARC8": Marc8DecodeError,
    "IO": FatalReaderError,
    "FILTER": FilterError,
    "MEMORY": RecordMemoryError,
    "NO_FIELDS": NoFieldsFound,
}

# Kinds found while parsing a framed record: pymarc's checks on the raw bytes
# pick the exact pymarc class. Framing kinds keep their mapping.
PARSE_KINDS = {"LEADER", "BASE_ADDRESS", "DIRECTORY", "FIELD", "INDICATOR", "SUBFIELD",
               "ENCODING", "NO_FIELDS"}

# Skipped spans: pymarc's reader would have read them with its framing rules.
SPAN_KINDS = {"JUNK", "TRUNCATED"}

_Found = Tuple[Type[BaseException], tuple]


class _Refused(Exception):
    """pymarc would raise cls(*args) here (internal: never leaves this module)."""

    def __init__(self, cls: Type[BaseException], args: tuple = ()) -> None:
        super().__init__()
        self.cls = cls
        self.cls_args = args


def _unicode_args(e: UnicodeDecodeError) -> tuple:
    return (e.encoding, e.object, e.start, e.end, e.reason)


def _walk(marc: bytes, force_utf8: bool) -> Iterator[Tuple[str, bytes, Optional[List[bytes]]]]:
    """Reads one record's structure as pymarc 5.x does, checking in its order.

    Yields (tag, data, parts) per directory entry: ``parts`` is None for a
    control field, else the data split at the subfield delimiters (the
    indicators first). Raises _Refused where pymarc would raise, at the
    point where pymarc would raise it.
    """
    try:
        leader = marc[0:24].decode("ascii")
    except UnicodeDecodeError as e:
        raise _Refused(RecordUnicodeDecodeError, _unicode_args(e)) from None
    if len(leader) != 24:
        raise _Refused(RecordLeaderInvalid)
    utf8 = leader[9] == "a" or force_utf8
    try:
        base = int(marc[12:17])
    except ValueError:
        raise _Refused(RecordValueError) from None
    if base <= 0:
        raise _Refused(BaseAddressNotFound)
    if base >= len(marc):
        raise _Refused(BaseAddressInvalid)
    try:
        if len(marc) < int(leader[:5]):
            raise _Refused(TruncatedRecord)
    except ValueError:
        raise _Refused(RecordValueError) from None
    try:
        directory = marc[24 : base - 1].decode("ascii")
    except UnicodeDecodeError as e:
        raise _Refused(RecordUnicodeDecodeError, _unicode_args(e)) from None
    if len(directory) % 12 != 0:
        raise _Refused(RecordDirectoryInvalid)
    count = len(directory) // 12
    for i in range(count):
        entry = directory[i * 12 : i * 12 + 12]
        try:
            length = int(entry[3:7])
            start = int(entry[7:12])
        except ValueError:
            raise _Refused(RecordValueError) from None
        tag = entry[0:3]
        data = marc[base + start : base + start + length - 1]
        if tag < "010" and tag.isdigit():
            yield tag, data, None
            continue
        parts = data.split(b"\x1f")
        try:
            parts[0].decode("ascii")
        except UnicodeDecodeError as e:
            raise _Refused(RecordUnicodeDecodeError, _unicode_args(e)) from None
        if utf8:
            for p in parts[1:]:
                try:
                    p[1:].decode("utf-8")
                except UnicodeDecodeError as e:
                    raise _Refused(RecordUnicodeDecodeError, _unicode_args(e)) from None
        yield tag, data, parts
    if count == 0:
        raise _Refused(NoFieldsFound)


def pymarc_check(marc: bytes, force_utf8: bool = False) -> Optional[_Found]:
    """Runs pymarc 5.x's record checks in its order; returns (class, args) or None."""
    try:
        for _ in _walk(marc, force_utf8):
            pass
    except _Refused as r:
        return r.cls, r.cls_args
    return None


def _marc8(data: bytes) -> str:
    """MARC-8 -> str through the C decoder (pymarc's double-diacritic halves):
    wraps the bytes in a one-field record. Problems become U+FFFD, quietly."""
    body = b"  \x1fa" + data.replace(b"\x1d", b"").replace(b"\x1e", b"") + b"\x1e"
    base = 24 + 12 + 1
    total = base + len(body) + 1
    leader = b"%05dnam  22%05d   4500" % (total, base)
    rec = leader + b"245%04d00000" % len(body) + b"\x1e" + body + b"\x1d"
    return _marcpipe._decode(rec, hide_utf8_warnings=True)["245"]["a"]


def pymarc_framing(unit: bytes) -> Optional[Type[BaseException]]:
    """The class pymarc's MARCReader raises for a unit that starts with these
    bytes (its 5-digit length, then the end of record byte), or None when its
    framing would accept them."""
    if len(unit) < 5:
        return TruncatedRecord
    try:
        length = int(unit[:5])
    except ValueError:
        return RecordLengthInvalid
    if len(unit) < length:
        return TruncatedRecord
    if length <= 0 or unit[length - 1 : length] != b"\x1d":
        return EndOfRecordNotFound
    return None


def make_error(kind, code, ordinal, offset, length, control_number, tag, subfield, raw,
               message="", force_utf8=False, decode=False):
    """Error factory called by the C reader for every error item.

    ``raw``: the unit's bytes (a skipped span or the damaged record) or None.
    ``decode``: the item comes from ``Record(data=...)`` / ``decode_marc``,
    where pymarc runs its record checks on the bytes as given. Returns the
    exception, of the class pymarc would raise.
    """
    cls, args = KIND_CLASS.get(kind, FieldNotFound), ()
    if raw is not None:
        found = None
        if decode:
            found = pymarc_check(raw, force_utf8)
        elif kind in SPAN_KINDS:
            framed = pymarc_framing(raw)
            if framed is not None and not (kind == "JUNK" and framed is RecordLengthInvalid):
                found = framed, ()
        elif kind in PARSE_KINDS:
            found = pymarc_check(raw, force_utf8)
        if found is not None:
            cls, args = found
    if cls in (RecordUnicodeDecodeError, Marc8DecodeError) and not args:
        enc = "utf-8" if cls is RecordUnicodeDecodeError else "marc8"
        args = (enc, raw or b"", 0, 1, message or "invalid " + enc)
    exc = cls(*args)
    exc.kind = kind
    exc.ordinal = ordinal
    exc.offset = offset
    exc.length = length
    exc.control_number = control_number
    exc.tag = tag
    exc.subfield = subfield
    exc.message = message
    return exc


def make_warning(kind, offset, ordinal, tag, subfield, message):
    """Warning factory called by the C reader for each warning of a record."""
    cls = BadSubfieldCodeWarning if kind == "SUBFIELD" and subfield else RecordWarning
    return cls(kind, offset, ordinal, tag, subfield, message)


def warning_hook(record, quiet=False):
    """Emits a record's warnings as pymarc would: ``warnings.warn`` for a bad
    subfield code, the ``marcpipe`` logger (WARNING) for the rest, MARC-8 and
    UTF-8 repairs excepted when ``quiet`` (pymarc's ``hide_utf8_warnings``)."""
    for w in record.warnings:
        if isinstance(w, BadSubfieldCodeWarning):
            warnings.warn(w, stacklevel=2)
        elif not (quiet and w.kind in ("MARC8", "ENCODING")):
            logger.warning("%s", w)
