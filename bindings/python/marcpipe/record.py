"""marcpipe.Record: pymarc 5.x's Record on top of the compact C record.

Records yielded by MARCReader are created in C: the leader, a compact index
and the decoded text live in one object. Field objects are built the first
time they are touched (``record["245"]``, ``record.fields``, iteration) and
then cached, so ``record["245"] is record["245"]`` and changes made through
a Field stick. ``record.title`` reads the compact index directly.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from . import _marcpipe
from .exceptions import FieldNotFound, MissingLinkedFields, RecordLeaderInvalid, RecordTooLarge
from .field import END_OF_FIELD, Field, RawField
from .leader import LEADER_LEN, Leader

END_OF_RECORD = "\x1d"
isbn_regex = re.compile(r"([0-9\-xX]+)")

# The library's serialisers (marcpipe/write.h) and the flags that make their
# output pymarc's: json.dumps defaults for as_json, the leader as the record
# holds it.
_ISO2709 = _marcpipe.FORMAT_ISO2709
_JSON = _marcpipe.FORMAT_JSON
_KEEP_LEADER = _marcpipe.WRITE_KEEP_LEADER
_AS_JSON_FLAGS = _marcpipe.WRITE_JSON_SPACED | _marcpipe.WRITE_ASCII | _KEEP_LEADER

__all__ = ["Record"]

# fmt: off
_SUBJECT_TAGS = ("600", "610", "611", "630", "648", "650", "651", "653", "654", "655",
                 "656", "657", "658", "662", "690", "691", "696", "697", "698", "699")
_ADDED_TAGS = ("700", "710", "711", "720", "730", "740", "752", "753", "754", "790",
               "791", "792", "793", "796", "797", "798", "799")
_NOTE_TAGS = ("500", "501", "502", "504", "505", "506", "507", "508", "510", "511",
              "513", "514", "515", "516", "518", "520", "521", "522", "524", "525",
              "526", "530", "533", "534", "535", "536", "538", "540", "541", "544",
              "545", "546", "547", "550", "552", "555", "556", "561", "562", "563",
              "565", "567", "580", "581", "583", "584", "585", "586", "590", "591",
              "592", "593", "594", "595", "596", "597", "598", "599")
# fmt: on


class Record(_marcpipe.RecordBase):
    """A MARC record (pymarc 5.x interface).

    ``record["245"]`` (KeyError when absent), ``record.get("245")``,
    ``record.get_fields("600", "650")``, ``"245" in record``, iteration over
    fields, ``record.leader`` (a :class:`Leader`), properties ``title``,
    ``author``, ``isbn``... ``as_marc()``, ``as_dict()``, ``as_json()``,
    ``str(record)`` (MARCMaker). ``record.offset`` / ``record.ordinal`` give
    the position in the stream it was read from (0-based; every record a
    reader yields has them, ``Record(data=...)`` too (0, 0); None only for a
    record built field by field; both are writable; for a byte-range read the
    offset is the file's, the ordinal counts from the reader's
    ``first_ordinal``). ``record.warnings``: the problems that left it
    readable (a tuple of :class:`RecordWarning`, ``()`` when none).

    Records pickle and ``copy``/``deepcopy`` compactly: a record as read is
    its one compact block (leader, field/subfield index and text) in one
    ``bytes``, with no object per field; fields touched or edited in Python
    travel as they are (see :meth:`__reduce__`).
    """

    __slots__ = ()

    def __reduce__(self) -> Any:
        """Pickle/copy support: ``(_restore_record, (cls, compact state))``.

        The state is the compact layout as one ``bytes`` object, plus only
        what Python changed: the field list once it was replaced or
        materialized (``record.fields``, ``add_field``...), the Field objects
        already built (edits made through them stick) and the Leader once
        it was touched. The layout is native binary: a record pickled on a
        machine of another byte order or ABI is refused (``ValueError``).
        """
        return (_restore_record, (type(self), self._state()))

    def __init__(
        self,
        data: Any = "",
        fields: Optional[List[Field]] = None,
        to_unicode: bool = True,
        force_utf8: bool = False,
        hide_utf8_warnings: bool = False,
        utf8_handling: str = "strict",
        leader: str = " " * LEADER_LEN,
        file_encoding: str = "iso8859-1",
    ) -> None:
        self.leader = Leader(leader[0:10] + "22" + leader[12:20] + "4500")
        self.fields = []
        self.force_utf8 = force_utf8
        self.to_unicode = to_unicode
        if fields:
            self.fields = fields
        elif len(data) > 0:
            self.decode_marc(
                data,
                to_unicode=to_unicode,
                force_utf8=force_utf8,
                hide_utf8_warnings=hide_utf8_warnings,
                utf8_handling=utf8_handling,
                encoding=file_encoding,
            )
        elif force_utf8:
            self.leader = Leader(str(self.leader)[0:9] + "a" + str(self.leader)[10:])

    def decode_marc(
        self,
        marc: bytes,
        to_unicode: bool = True,
        force_utf8: bool = False,
        hide_utf8_warnings: bool = False,
        utf8_handling: str = "strict",
        encoding: str = "iso8859-1",
    ) -> None:
        """Fill this record from one record in transmission format (ISO 2709 bytes).

        Raises the exception pymarc's ``decode_marc`` raises for bad bytes
        (``RecordLeaderInvalid`` for fewer than 24 bytes, ``BaseAddressInvalid``
        ...); problems that leave the record readable are in
        ``self.warnings``. ``encoding`` is accepted for pymarc compatibility:
        non-UTF-8 records are MARC-8 (MARCReader's ``file_encoding`` reads
        other encodings).
        """
        if isinstance(marc, str):
            marc = marc.encode("latin-1")
        if len(marc) < LEADER_LEN:  # pymarc: the leader is not 24 bytes long
            raise RecordLeaderInvalid()
        tmp = _marcpipe._decode(
            marc, to_unicode=to_unicode, force_utf8=force_utf8 or self.force_utf8,
            utf8_handling=utf8_handling, hide_utf8_warnings=hide_utf8_warnings,
        )
        self.leader = tmp.leader
        self.fields = list(tmp.fields)
        self.warnings = tmp.warnings
        self.offset = tmp.offset
        self.ordinal = tmp.ordinal

    # str(record) is RecordBase's (C): pymarc's MARCMaker text, ``=LDR  ...``
    # and one line per field, written from the compact record or by the
    # library's writer; this is its path for shapes the C model does not carry.
    def _str_pymarc(self) -> str:
        lines = [f"=LDR  {self.leader}"]
        lines.extend(str(f) for f in self.fields)
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"<marcpipe.Record {self.title!r}>" if self.to_unicode else "<marcpipe.Record>"

    # -- editing (pymarc semantics) ----------------------------------------------

    def add_field(self, *fields: Field) -> None:
        self.fields.extend(fields)

    def add_grouped_field(self, *fields: Field) -> None:
        for f in fields:
            if not self.fields or not f.tag.isdigit():
                self.fields.append(f)
                continue
            self._sort_fields(f, "grouped")

    def add_ordered_field(self, *fields: Field) -> None:
        for f in fields:
            if not self.fields or not f.tag.isdigit():
                self.fields.append(f)
                continue
            self._sort_fields(f, "ordered")

    def _sort_fields(self, field: Field, mode: str) -> None:
        tag = int(field.tag[0]) if mode == "grouped" else int(field.tag)
        fields = self.fields
        for i, other in enumerate(fields, 1):
            if not other.tag.isdigit():
                fields.insert(i - 1, field)
                break
            last = int(other.tag[0]) if mode == "grouped" else int(other.tag)
            if last > tag:
                fields.insert(i - 1, field)
                break
            if len(fields) == i:
                fields.append(field)
                break

    def remove_field(self, *fields: Field) -> None:
        for f in fields:
            try:
                self.fields.remove(f)
            except ValueError:
                raise FieldNotFound from None

    def remove_fields(self, *tags: str) -> None:
        self.fields[:] = [f for f in self.fields if f.tag not in tags]

    def get_linked_fields(self, field: Field) -> List[Field]:
        num = field.linkage_occurrence_num()
        linked = [f for f in self.get_fields("880") if f.linkage_occurrence_num() == num]
        if num is not None and not linked:
            raise MissingLinkedFields(field)
        return linked

    # -- serialisation -----------------------------------------------------------

    def as_marc(self) -> bytes:
        """The record as ISO 2709 bytes (MARC 21 transmission format).

        As pymarc 5.x: when the record was decoded to text (to_unicode), the
        leader's coding scheme (09) is set to 'a' on the record itself and the
        output is UTF-8. Written by the library's serialiser, which also
        writes leader/10-11 "22" and 20-23 "4500" (what its directory is).
        Raises :class:`RecordTooLarge` for a record over ISO 2709's limits
        (99,999 bytes, 9,999 per field), where pymarc writes a broken length.
        """
        if self.to_unicode and not self._mark_utf8():
            if isinstance(self.leader, Leader):
                self.leader.coding_scheme = "a"
            else:
                self.leader = self.leader[0:9] + "a" + self.leader[10:]
        out = self._write(_ISO2709, 0 if self.to_unicode else _KEEP_LEADER)
        if isinstance(out, bytes):
            return out
        if out == _marcpipe.E_TOOBIG:
            raise RecordTooLarge(
                "record over ISO 2709's limits (99999 bytes per record, 9999 per field)"
            )
        return self._as_marc_pymarc()

    def _as_marc_pymarc(self) -> bytes:
        """pymarc's as_marc, for shapes the library's model does not carry
        (bytes values, odd tags or indicators, separators inside values)."""
        encoding = "utf-8" if self.leader[9] == "a" or self.force_utf8 else "iso8859-1"
        data = []
        directory = []
        offset = 0
        for field in self.fields:
            if isinstance(field, RawField):
                fd = field.as_marc()
            else:
                fd = field.as_marc(encoding=encoding)
            data.append(fd)
            if field.tag.isdigit():
                directory.append(f"{int(field.tag):03d}".encode(encoding))
            else:
                directory.append(f"{field.tag:>03}".encode(encoding))
            directory.append(f"{len(fd):04d}{offset:05d}".encode(encoding))
            offset += len(fd)
        dir_bytes = b"".join(directory) + END_OF_FIELD.encode(encoding)
        body = b"".join(data) + END_OF_RECORD.encode(encoding)
        base = LEADER_LEN + len(dir_bytes)
        length = base + len(body)
        leader = f"{length:0>5}{self.leader[5:12]}{base:0>5}{self.leader[17:]}"
        return leader.encode(encoding) + dir_bytes + body

    as_marc21 = as_marc

    # as_dict() is RecordBase's (C): MARC-in-JSON as a dict, {"leader": ...,
    # "fields": [{tag: data | {...}}]}, built from the compact record when no
    # Field object was made; this is its path when some were.
    def _as_dict_pymarc(self) -> Dict[str, Any]:
        out: List[Dict[str, Any]] = []
        for f in self.fields:
            if f.control_field:
                out.append({f.tag: f.data})
            else:
                out.append({f.tag: {
                    "ind1": f.indicator1,
                    "ind2": f.indicator2,
                    "subfields": [{s.code: s.value} for s in f.subfields],
                }})
        return {"leader": str(self.leader), "fields": out}

    def as_json(self, **kwargs: Any) -> str:
        """``json.dumps(self.as_dict(), **kwargs)``; without arguments the
        library writes the same string in C."""
        if not kwargs:
            out = self._write(_JSON, _AS_JSON_FLAGS, True)
            if isinstance(out, str):
                return out
        return json.dumps(self.as_dict(), **kwargs)

    # -- pymarc 5.x properties (title is implemented in C) ------------------------

    @property
    def issn_title(self) -> Optional[str]:
        f = self.get("222")
        if not f:
            return None
        title = f.get("a")
        if title:
            sub = f.get("b")
            if sub:
                title += f" {sub}"
        return title

    @property
    def isbn(self) -> Optional[str]:
        f = self.get("020")
        if not f:
            return None
        number = f.get("a")
        if not number:
            return None
        m = isbn_regex.search(number)
        return m.group(1).replace("-", "") if m else None

    @property
    def issn(self) -> Optional[str]:
        f = self.get("022")
        return f.get("a") if (f and "a" in f) else None

    @property
    def issnl(self) -> Optional[str]:
        f = self.get("022")
        return f["l"] if (f and "l" in f) else None

    @property
    def sudoc(self) -> Optional[str]:
        f = self.get("086")
        return f.format_field() if f else None

    @property
    def author(self) -> Optional[str]:
        f = self.get("100") or self.get("110") or self.get("111")
        return f.format_field() if f else None

    @property
    def uniformtitle(self) -> Optional[str]:
        f = self.get("130") or self.get("240")
        return f.format_field() if f else None

    @property
    def series(self) -> List[Field]:
        return self.get_fields("440", "490", "800", "810", "811", "830")

    @property
    def subjects(self) -> List[Field]:
        return self.get_fields(*_SUBJECT_TAGS)

    @property
    def addedentries(self) -> List[Field]:
        return self.get_fields(*_ADDED_TAGS)

    @property
    def location(self) -> List[Field]:
        return self.get_fields("852")

    @property
    def notes(self) -> List[Field]:
        return self.get_fields(*_NOTE_TAGS)

    @property
    def physicaldescription(self) -> List[Field]:
        return self.get_fields("300")

    @property
    def publisher(self) -> Optional[str]:
        for f in self.get_fields("260", "264"):
            if f.tag == "260":
                return f.get("b")
            if f.tag == "264" and f.indicator2 == "1":
                return f.get("b")
        return None

    @property
    def pubyear(self) -> Optional[str]:
        for f in self.get_fields("260", "264"):
            if f.tag == "260":
                return f.get("c")
            if f.tag == "264" and f.indicator2 == "1":
                return f.get("c")
        return None


def _restore_record(cls: type, state: tuple) -> Record:
    """Unpickle / copy: the record :meth:`Record.__reduce__` described."""
    return _marcpipe._record_restore(cls, state)


def _title_slow(record: Record) -> Optional[str]:
    """title once Field objects exist (they may have been edited)."""
    f = record.get("245")
    if not f:
        return None
    title = f.get("a")
    if title:
        sub = f.get("b")
        if sub:
            title += f" {sub}"
    return title


def map_marc8_record(record: Record) -> Record:
    """pymarc compatibility: records are already decoded; marks the leader UTF-8."""
    record.leader = Leader(str(record.leader)[0:9] + "a" + str(record.leader)[10:])
    return record
