"""Exceptions of marcpipe, named as pymarc 5.x names them.

Every exception that describes a bad unit of the input carries its position:
``ordinal`` (0-based unit number: records and skipped spans both count),
``offset`` (byte offset of the unit in the stream), ``length`` (bytes in the
unit), ``kind`` (the C library's error kind, e.g. ``"TRUNCATED"``),
``control_number`` (the 001 when readable, else ``""``), ``tag`` and
``subfield`` (where relevant, else ``""``) and ``message`` (the library's
text). Exceptions raised outside a reader (``Record(data=...)``) carry the
same attributes.
"""

from __future__ import annotations

from typing import Optional


__all__ = [
    "PymarcException",
    "FatalReaderError",
    "FatalReaderEror",
    "RecordLengthInvalid",
    "TruncatedRecord",
    "EndOfRecordNotFound",
    "RecordLeaderInvalid",
    "RecordDirectoryInvalid",
    "NoFieldsFound",
    "BaseAddressInvalid",
    "BaseAddressNotFound",
    "WriteNeedsRecord",
    "NoActiveFile",
    "FieldNotFound",
    "BadSubfieldCodeWarning",
    "BadLeaderValue",
    "MissingLinkedFields",
    "IndicatorInvalid",
    "SubfieldInvalid",
    "RecordTooBig",
    "JunkSkipped",
    "Marc8DecodeError",
    "RecordUnicodeDecodeError",
    "RecordValueError",
    "FilterError",
]


class PymarcException(Exception):
    """Base of every marcpipe / pymarc exception."""


class _Positioned:
    """Mixin: position attributes and a message that names the position."""

    _text = ""
    kind: str = ""
    ordinal: Optional[int] = None
    offset: Optional[int] = None
    length: Optional[int] = None
    control_number: str = ""
    tag: str = ""
    subfield: str = ""
    message: str = ""

    def __str__(self) -> str:
        base = self._text or (Exception.__str__(self) if self.args else "")  # type: ignore[arg-type]
        if self.offset is None:
            return base
        where = f"unit {self.ordinal} at byte {self.offset}"
        if self.control_number:
            where += f", 001 {self.control_number}"
        return f"{base} ({where}: {self.message})" if self.message else f"{base} ({where})"


class FatalReaderError(_Positioned, PymarcException):
    """Error in the framing of a record (pymarc: error preventing further reading).

    Unlike pymarc, marcpipe resynchronises after it: the stream goes on.
    """


FatalReaderEror = FatalReaderError  # pymarc's historical misspelling


class RecordLengthInvalid(FatalReaderError):
    """Invalid record length."""

    _text = "Invalid record length in first 5 bytes of record"


class TruncatedRecord(FatalReaderError):
    """Truncated record data."""

    _text = "Record length in leader is greater than the length of data"


class EndOfRecordNotFound(FatalReaderError):
    """Unable to locate end of record marker."""

    _text = "Unable to locate end of record marker"


class RecordTooBig(RecordLengthInvalid):
    """Record larger than the reader's maximum record size (marcpipe)."""

    _text = "Record larger than the maximum record size"


class JunkSkipped(RecordLengthInvalid):
    """Bytes between records that do not form a record were skipped (marcpipe)."""

    _text = "Bytes between records skipped"


class RecordLeaderInvalid(_Positioned, PymarcException):
    """Unable to extract record leader."""

    _text = "Unable to extract record leader"


class RecordDirectoryInvalid(_Positioned, PymarcException):
    """Invalid directory."""

    _text = "Invalid directory"


class NoFieldsFound(_Positioned, PymarcException):
    """Unable to locate fields in record data."""

    _text = "Unable to locate fields in record data"


class BaseAddressInvalid(_Positioned, PymarcException):
    """Base address exceeds size of record."""

    _text = "Base address exceeds size of record"


class BaseAddressNotFound(_Positioned, PymarcException):
    """Unable to locate base address of record."""

    _text = "Unable to locate base address of record"


class WriteNeedsRecord(_Positioned, PymarcException):
    """Write requires a pymarc.Record object as an argument."""

    _text = "Write requires a pymarc.Record object as an argument"


class NoActiveFile(_Positioned, PymarcException):
    """There is no active file to write to in call to write."""

    _text = "There is no active file to write to in call to write"


class FieldNotFound(_Positioned, PymarcException):
    """Record does not contain the specified field (also: a field is unreadable)."""

    _text = "Record does not contain the specified field"


class IndicatorInvalid(_Positioned, PymarcException):
    """An indicator is invalid (marcpipe)."""

    _text = "Invalid indicator"


class SubfieldInvalid(_Positioned, PymarcException):
    """A subfield is invalid (marcpipe)."""

    _text = "Invalid subfield"


class Marc8DecodeError(_Positioned, PymarcException, UnicodeDecodeError):
    """Invalid MARC-8 that could not be converted (pymarc raises UnicodeDecodeError)."""

    def __str__(self) -> str:
        self._text = UnicodeDecodeError.__str__(self)
        return _Positioned.__str__(self)


class FilterError(_Positioned, PymarcException):
    """A user record function failed (marcpipe)."""

    _text = "Record function failed"


class RecordUnicodeDecodeError(_Positioned, PymarcException, UnicodeDecodeError):
    """Invalid UTF-8 in a record (pymarc raises UnicodeDecodeError here).

    It is both a ``PymarcException`` and a ``UnicodeDecodeError``.
    """

    def __str__(self) -> str:
        self._text = UnicodeDecodeError.__str__(self)
        return _Positioned.__str__(self)


class RecordValueError(_Positioned, PymarcException, ValueError):
    """A number in the leader or directory is not a number (pymarc raises ValueError)."""

    _text = "Invalid number in the leader or directory"


class BadSubfieldCodeWarning(Warning):
    """Warning about a non-ASCII subfield code."""


class BadLeaderValue(PymarcException):
    """Error when setting a leader value."""


class MissingLinkedFields(PymarcException):
    """A non-880 field has a subfield 6 that cannot be matched to an 880."""

    def __init__(self, field) -> None:
        super().__init__(field)
        self.field = field

    def __str__(self) -> str:
        return self.field.tag + " field includes a subfield 6 but no linked fields could be found."


# C error kind -> class, used when pymarc's own checks do not single out a class.
_KIND_CLASS = {
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
    "FILTER": FilterError,
}

# Kinds found while parsing a framed record: pymarc's checks on the raw bytes
# pick the exact pymarc class. Framing kinds keep their mapping.
_PARSE_KINDS = {"LEADER", "BASE_ADDRESS", "DIRECTORY", "FIELD", "INDICATOR", "SUBFIELD", "ENCODING"}


def _pymarc_check(marc: bytes, force_utf8: bool = False):
    """Runs pymarc 5.x's record checks in its order; returns (class, args) or None."""
    try:
        leader = marc[0:24].decode("ascii")
    except UnicodeDecodeError as e:
        return RecordUnicodeDecodeError, (e.encoding, e.object, e.start, e.end, e.reason)
    if len(leader) != 24:
        return RecordLeaderInvalid, ()
    utf8 = leader[9] == "a" or force_utf8
    try:
        base = int(marc[12:17])
    except ValueError:
        return RecordValueError, ()
    if base <= 0:
        return BaseAddressNotFound, ()
    if base >= len(marc):
        return BaseAddressInvalid, ()
    try:
        if len(marc) < int(leader[:5]):
            return TruncatedRecord, ()
    except ValueError:
        return RecordValueError, ()
    try:
        directory = marc[24 : base - 1].decode("ascii")
    except UnicodeDecodeError as e:
        return RecordUnicodeDecodeError, (e.encoding, e.object, e.start, e.end, e.reason)
    if len(directory) % 12 != 0:
        return RecordDirectoryInvalid, ()
    count = len(directory) // 12
    for i in range(count):
        entry = directory[i * 12 : i * 12 + 12]
        try:
            length = int(entry[3:7])
            start = int(entry[7:12])
        except ValueError:
            return RecordValueError, ()
        tag = entry[0:3]
        data = marc[base + start : base + start + length - 1]
        if tag < "010" and tag.isdigit():
            continue
        parts = data.split(b"\x1f")
        try:
            parts[0].decode("ascii")
        except UnicodeDecodeError as e:
            return RecordUnicodeDecodeError, (e.encoding, e.object, e.start, e.end, e.reason)
        if utf8:
            for p in parts[1:]:
                try:
                    p[1:].decode("utf-8")
                except UnicodeDecodeError as e:
                    return RecordUnicodeDecodeError, (e.encoding, e.object, e.start, e.end, e.reason)
    if count == 0:
        return NoFieldsFound, ()
    return None


# Kinds where the C parser is stricter than pymarc: when pymarc's checks pass,
# the record is decoded the way pymarc decodes it and yielded.
_TOLERATED_KINDS = {"INDICATOR", "SUBFIELD", "FIELD"}


def _make_error(kind, code, ordinal, offset, length, control_number, tag, subfield, raw,
                message="", to_unicode=True, force_utf8=False, utf8_handling="strict"):
    """Error factory called by the C reader for every error item.

    Returns the exception, or a Record when pymarc would have read the unit.
    """
    cls, args = _KIND_CLASS.get(kind, FieldNotFound), ()
    if raw is not None and kind in _PARSE_KINDS:
        found = _pymarc_check(raw, force_utf8)
        if found is not None:
            cls, args = found
        elif kind in _TOLERATED_KINDS:
            from ._fallback import pymarc_decode

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
