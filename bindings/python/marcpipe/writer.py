"""Writers (pymarc 5.x's ``pymarc.writer`` and the output side of ``pymarc.marcxml``).

    from marcpipe import MARCReader, XMLWriter
    with open("books.xml", "wb") as out:
        writer = XMLWriter(out)
        for record in MARCReader("books.mrc"):
            if record is not None:
                writer.write(record)
        writer.close()

Same classes, signatures and bytes as pymarc: :class:`MARCWriter` (ISO 2709,
binary file), :class:`XMLWriter` (a MARCXML ``<collection>``, binary file),
:class:`JSONWriter` (a MARC-in-JSON array, text file), :class:`TextWriter`
(MARCMaker, text file), :func:`record_to_xml` and :func:`record_to_xml_node`
(an ``xml.etree.ElementTree`` element; no lxml). Each record is serialised in
C by the library (``marcpipe/write.h``) from its compact form - also a
record built by hand, whose fields are read once - so writing costs about
what reading does. A record whose shape the C model does not carry (bytes
values from ``to_unicode=False``, a tag that is not three characters, a
multi-character indicator or code) is written the way pymarc writes it.

The one difference from pymarc: a record over ISO 2709's limits (99,999
bytes, 9,999 per field) raises :class:`~marcpipe.exceptions.RecordTooLarge`
in :class:`MARCWriter` / ``as_marc()`` instead of being written with a
length no reader can follow.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import IO, Any

from . import _marcpipe
from ._compat import _marc8
from .exceptions import WriteNeedsRecord
from .field import Subfield
from .htmlutils import html_escape_unicode
from .record import Record

__all__ = [
    "Writer",
    "MARCWriter",
    "XMLWriter",
    "JSONWriter",
    "TextWriter",
    "record_to_xml",
    "record_to_xml_node",
    "MARC_XML_NS",
    "MARC_XML_SCHEMA",
    "XSI_NS",
]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MARC_XML_NS = "http://www.loc.gov/MARC21/slim"
MARC_XML_SCHEMA = (
    "http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
)

_XML = _marcpipe.FORMAT_MARCXML
_JSON = _marcpipe.FORMAT_JSON
# pymarc's XML: ElementTree's layout (no whitespace, ind1 ind2 tag), the leader as held.
_XML_FLAGS = _marcpipe.WRITE_XML_COMPACT | _marcpipe.WRITE_KEEP_LEADER
_ASCII = _marcpipe.WRITE_ASCII
_NAMESPACE = _marcpipe.WRITE_XML_NAMESPACE
# JSONWriter: json.dump(..., separators=(",", ":")), ensure_ascii.
_JSON_FLAGS = _marcpipe.WRITE_ASCII | _marcpipe.WRITE_KEEP_LEADER


# ---- MARCXML ---------------------------------------------------------------------


def _text(value: Any) -> Any:
    """A value as text: str as is, bytes (to_unicode=False) decoded from MARC-8
    by the library, as pymarc's record_to_xml_node translates them."""
    if isinstance(value, (bytes, bytearray)):
        return _marc8(bytes(value))
    return value


def _node_pymarc(record: Record) -> ET.Element:
    """The element pymarc builds, for records the C serialiser leaves to Python."""
    root = ET.Element("record")
    leader = ET.SubElement(root, "leader")
    leader.text = str(record.leader)
    for field in record:
        if field.control_field:
            el = ET.SubElement(root, "controlfield")
            el.set("tag", field.tag)
            el.text = _text(field.data)
        else:
            el = ET.SubElement(root, "datafield")
            el.set("ind1", field.indicators.first)
            el.set("ind2", field.indicators.second)
            el.set("tag", field.tag)
            for sf in field:
                sub = ET.SubElement(el, "subfield")
                sub.set("code", sf.code)
                sub.text = _text(sf.value)
    return root


def _set_namespace(root: ET.Element) -> None:
    root.set("xmlns", MARC_XML_NS)
    root.set("xmlns:xsi", XSI_NS)
    root.set("xsi:schemaLocation", MARC_XML_SCHEMA)


def record_to_xml_node(record: Record, quiet: bool = False, namespace: bool = False) -> ET.Element:
    """The record as an ``xml.etree.ElementTree.Element`` ``<record>``, equal to
    pymarc's (same elements, attributes in the same order, text ``""`` for
    empty values). ``namespace=True`` adds xmlns, xmlns:xsi and
    xsi:schemaLocation attributes to the root, as pymarc does. ``quiet`` is
    accepted for pymarc compatibility (MARC-8 is decoded by the library)."""
    data = record._write(_XML, _XML_FLAGS)
    if isinstance(data, bytes):
        root = ET.fromstring(data)
        for el in root.iter():
            if el.text is None and el.tag in ("leader", "controlfield", "subfield"):
                el.text = ""
    else:
        root = _node_pymarc(record)
    if namespace:
        _set_namespace(root)
    return root


def record_to_xml(record: Record, quiet: bool = False, namespace: bool = False) -> bytes:
    """The record as one MARCXML ``<record>`` element, bytes as pymarc's
    ``record_to_xml`` (ElementTree's us-ascii output: non-ASCII as ``&#N;``)."""
    data = record._write(_XML, _XML_FLAGS | _ASCII | (_NAMESPACE if namespace else 0))
    if isinstance(data, bytes):
        return data
    return ET.tostring(record_to_xml_node(record, quiet, namespace))


# ---- writers -------------------------------------------------------------------------


class Writer:
    """Base of the writers: ``write(record)``, ``close(close_fh=True)``.

    ``html_entities=True`` replaces every non-ASCII character of every value
    with an HTML reference before writing - and, as in pymarc, it does so in
    the record itself (the record is changed).
    """

    def __init__(self, file_handle: IO, html_entities: bool = False) -> None:
        self.file_handle = file_handle
        self.html_entities = html_entities

    def write(self, record: Record) -> None:
        if not isinstance(record, Record):
            raise WriteNeedsRecord
        if self.html_entities:
            for field in record.get_fields():
                if field.subfields:
                    field.subfields = [
                        Subfield(code=s.code, value=html_escape_unicode(s.value))
                        for s in field.subfields
                    ]
                else:
                    field.data = html_escape_unicode(field.data)

    def close(self, close_fh: bool = True) -> None:
        """Finishes the output; also closes the file handle unless close_fh is False."""
        if close_fh:
            self.file_handle.close()
        self.file_handle = None  # type: ignore[assignment]


class MARCWriter(Writer):
    """ISO 2709 (MARC 21 transmission format) to a binary file:
    ``MARCWriter(open("out.mrc", "wb"))``. Each record is ``record.as_marc()``."""

    def write(self, record: Record) -> None:
        Writer.write(self, record)
        self.file_handle.write(record.as_marc())


class XMLWriter(Writer):
    """A MARCXML collection to a binary file; ``close()`` ends the document
    (without it the XML is not complete)."""

    def __init__(self, file_handle: IO, html_entities: bool = False) -> None:
        super().__init__(file_handle, html_entities)
        self.file_handle.write(b'<?xml version="1.0" encoding="UTF-8"?>')
        self.file_handle.write(b'<collection xmlns="http://www.loc.gov/MARC21/slim">')

    def write(self, record: Record) -> None:
        Writer.write(self, record)
        data = record._write(_XML, _XML_FLAGS)
        if not isinstance(data, bytes):
            data = ET.tostring(record_to_xml_node(record), encoding="utf-8")
        self.file_handle.write(data)

    def close(self, close_fh: bool = True) -> None:
        self.file_handle.write(b"</collection>")
        Writer.close(self, close_fh)


class JSONWriter(Writer):
    """A JSON array of MARC-in-JSON objects to a text file; ``close()`` ends
    the array (without it the JSON is not complete)."""

    def __init__(self, file_handle: IO, html_entities: bool = False) -> None:
        super().__init__(file_handle, html_entities)
        self.write_count = 0
        self.file_handle.write("[")

    def write(self, record: Record) -> None:
        Writer.write(self, record)
        if self.write_count > 0:
            self.file_handle.write(",")
        data = record._write(_JSON, _JSON_FLAGS, True)
        if isinstance(data, str):
            self.file_handle.write(data)
        else:
            json.dump(record.as_dict(), self.file_handle, separators=(",", ":"))
        self.write_count += 1

    def close(self, close_fh: bool = True) -> None:
        self.file_handle.write("]")
        Writer.close(self, close_fh)


class TextWriter(Writer):
    """MARCMaker text (``str(record)``) to a text file, records separated by a
    blank line."""

    def __init__(self, file_handle: IO, html_entities: bool = False) -> None:
        super().__init__(file_handle, html_entities)
        self.write_count = 0

    def write(self, record: Record) -> None:
        Writer.write(self, record)
        if self.write_count > 0:
            self.file_handle.write("\n")
        self.file_handle.write(str(record))
        self.write_count += 1
