"""Exceptions of marcpipe, named as pymarc 5.x names them.

Every exception that describes a bad unit of the input carries its position:
``ordinal`` (0-based unit number: records and skipped spans both count),
``offset`` (byte offset of the unit in the stream), ``length`` (bytes in the
unit), ``kind`` (the C library's error kind, e.g. ``"TRUNCATED"``),
``control_number`` (the 001 when readable, else ``""``), ``tag`` and
``subfield`` (where relevant, else ``""``) and ``message`` (the library's
text). Exceptions raised outside a reader (``Record(data=...)``) carry the
same attributes. Their text counts records from 1, as people do ("record 1"
is the first unit); the attributes count from 0.

Problems that leave a record readable are not exceptions but warnings:
``record.warnings`` holds :class:`RecordWarning` objects (a non-ASCII
subfield code is a :class:`BadSubfieldCodeWarning`, which pymarc also emits
with ``warnings.warn``).

This module is a leaf: it imports nothing from the package, so every other
module may import it. Which class an error item becomes is decided in
``_compat`` (pymarc's rules), not here.
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
    "RecordWarning",
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
    "RecordMemoryError",
    "RecordTooLarge",
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
        where = f"record {self.ordinal + 1 if self.ordinal is not None else '?'} at byte {self.offset}"
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


class RecordMemoryError(_Positioned, PymarcException):
    """A record could not be indexed for lack of memory (marcpipe).

    Only that record is lost: the reader goes on with the next one.
    """

    _text = "Not enough memory to index the record"


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


class RecordWarning(UserWarning):
    """A problem that left the record readable; the record was delivered with it.

    Attributes: ``kind`` (the C library's kind: ``"INDICATOR"``,
    ``"SUBFIELD"``, ``"FIELD"``, ``"LEADER"``, ``"ENCODING"``, ``"MARC8"``),
    ``offset`` (stream offset of the byte where the problem is), ``ordinal``
    (the record's 0-based unit ordinal), ``tag`` and ``subfield`` (where
    relevant, else ``""``), ``message``. ``stages/FRAMING.md`` ("Checks")
    lists every check and whether it warns or errors; ``strict=True`` turns
    warnings into errors.
    """

    def __init__(self, kind: str = "", offset: int = 0, ordinal: int = 0, tag: str = "",
                 subfield: str = "", message: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.offset = offset
        self.ordinal = ordinal
        self.tag = tag
        self.subfield = subfield
        self.message = message

    def __str__(self) -> str:
        return f"record {self.ordinal + 1} at byte {self.offset}: {self.kind}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.kind!r}, offset={self.offset}, "
                f"ordinal={self.ordinal}, tag={self.tag!r}, subfield={self.subfield!r}, "
                f"message={self.message!r})")


class BadSubfieldCodeWarning(RecordWarning):
    """A subfield code that is not a letter or digit: a non-ASCII byte (read as
    pymarc reads it, e.g. ``\\xc3\\xa1`` -> ``a``) or a control character.

    pymarc emits it with ``warnings.warn`` for a non-ASCII code; so does
    marcpipe, for both (see ``record.warnings`` for the position).
    """


class BadLeaderValue(PymarcException):
    """Error when setting a leader value."""


class MissingLinkedFields(PymarcException):
    """A non-880 field has a subfield 6 that cannot be matched to an 880."""

    def __init__(self, field) -> None:
        super().__init__(field)
        self.field = field

    def __str__(self) -> str:
        return self.field.tag + " field includes a subfield 6 but no linked fields could be found."


class RecordTooLarge(PymarcException, ValueError):
    """A record the output format cannot hold (marcpipe).

    ISO 2709 (``as_marc()``, ``MARCWriter``) holds at most 99,999 bytes per
    record and 9,999 per field; pymarc writes such a record with a length
    that no reader can follow, marcpipe refuses it (nothing is written).
    """
