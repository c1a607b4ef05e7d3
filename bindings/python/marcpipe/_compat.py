"""Where marcpipe behaves as pymarc 5.x does with a damaged record.

The C reader reports every bad unit as an error item with a kind. This module
turns an item into what pymarc would have produced: the exception class pymarc
would raise (its checks run in pymarc's order on the raw bytes), or, for the
kinds where the C parser is stricter than pymarc, the record itself, decoded
leniently as pymarc decodes it (missing or extra indicators, bytes before the
first subfield, a missing field terminator, a non-ASCII subfield code). Rare
units only: speed is not a goal here.
"""

from __future__ import annotations

import unicodedata
import warnings
from typing import Any, Iterator, List, Optional, Tuple, Type

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
    SubfieldInvalid,
    TruncatedRecord,
)
from .field import Field, Indicators, Subfield
from .leader import Leader
from .record import Record

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
}

# Kinds found while parsing a framed record: pymarc's checks on the raw bytes
# pick the exact pymarc class. Framing kinds keep their mapping.
PARSE_KINDS = {"LEADER", "BASE_ADDRESS", "DIRECTORY", "FIELD", "INDICATOR", "SUBFIELD", "ENCODING"}

# Kinds where the C parser is stricter than pymarc: when pymarc's checks pass,
# the record is decoded the way pymarc decodes it and yielded.
TOLERATED_KINDS = {"INDICATOR", "SUBFIELD", "FIELD"}

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
    """MARC-8 -> str through the C decoder: wrap the bytes in a one-field record."""
    body = b"  \x1fa" + data.replace(b"\x1d", b"").replace(b"\x1e", b"") + b"\x1e"
    base = 24 + 12 + 1
    total = base + len(body) + 1
    leader = b"%05dnam  22%05d   4500" % (total, base)
    rec = leader + b"245%04d00000" % len(body) + b"\x1e" + body + b"\x1d"
    return _marcpipe._decode(rec)["245"]["a"]


def _subfield_code(piece: bytes) -> Tuple[str, int]:
    try:
        return piece[0:1].decode("ascii"), 1
    except UnicodeDecodeError:
        warnings.warn(BadSubfieldCodeWarning(), stacklevel=2)
    skip = 1
    try:
        text = piece.decode("utf-8")
        skip = len(text[0].encode("utf-8"))
    except UnicodeDecodeError:
        text = piece.decode("latin-1")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return plain[0], skip


def pymarc_decode(marc: bytes, to_unicode: bool, force_utf8: bool, utf8_handling: str) -> Record:
    """The record as pymarc 5.x decodes it; the caller ran pymarc_check first."""
    utf8 = marc[9:10] == b"a" or force_utf8
    fields: List[Field] = []
    for tag, data, parts in _walk(marc, force_utf8):
        if parts is None:
            value: Any = data.decode("utf-8" if utf8 else "iso8859-1") if to_unicode else data
            fields.append(Field._fast(tag, None, None, value, not to_unicode))
            continue
        ind = parts[0].decode("ascii")
        i1 = ind[0] if len(ind) >= 1 else " "
        i2 = ind[1] if len(ind) >= 2 else " "
        subs = []
        for piece in parts[1:]:
            if not piece:
                continue
            code, skip = _subfield_code(piece)
            value = piece[skip:]
            if to_unicode:
                value = value.decode("utf-8", utf8_handling) if utf8 else _marc8(value)
            subs.append(Subfield(code, value))
        fields.append(Field._fast(tag, Indicators(i1, i2), subs, None, not to_unicode))
    rec = Record(to_unicode=to_unicode, force_utf8=force_utf8)
    rec.leader = Leader(marc[0:24].decode("ascii"))
    rec.fields = fields
    return rec


def make_error(kind, code, ordinal, offset, length, control_number, tag, subfield, raw,
               message="", to_unicode=True, force_utf8=False, utf8_handling="strict"):
    """Error factory called by the C reader for every error item.

    Returns the exception, or a Record when pymarc would have read the unit.
    """
    cls, args = KIND_CLASS.get(kind, FieldNotFound), ()
    if raw is not None and kind in PARSE_KINDS:
        found = pymarc_check(raw, force_utf8)
        if found is not None:
            cls, args = found
        elif kind in TOLERATED_KINDS:
            try:
                return pymarc_decode(raw, to_unicode, force_utf8, utf8_handling)
            except Exception:
                pass
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
