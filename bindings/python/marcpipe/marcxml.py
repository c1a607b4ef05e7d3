"""MARCXML reading, pymarc 5.x's ``pymarc.marcxml`` functions on the pipeline.

``parse_xml_to_array``, ``map_xml`` and ``parse_xml`` take the same
arguments as pymarc's, but the records are framed by the pipeline's scanner
and parsed by its C workers (libxml2, with a fast path checked against it),
not by Python's xml.sax: one ``<record>`` element per record, any prefix,
also inside OAI-PMH envelopes (see :class:`marcpipe.MARCXMLReader`).

Differences from pymarc, on purpose:

- No DTD is loaded and no entity beyond XML's five is expanded: an XXE or
  "billion laughs" document ends in an exception, fast.
- Records are recognised by the MARC namespace or, without one, by their
  structure, and their elements by local name; ``strict=True`` (pymarc:
  ignore elements outside the MARC namespace) is accepted and changes
  nothing, since a record is parsed without the document around it.
- A record that is not well-formed raises
  :class:`~marcpipe.exceptions.RecordSyntaxError` (pymarc:
  ``xml.sax.SAXParseException``); ``errors="skip"`` drops bad records and
  goes on instead.
"""

from __future__ import annotations

import unicodedata
import xml.sax
from typing import Any, Callable, List, Optional
from xml.sax.handler import feature_namespaces

from . import _marcpipe
from .field import Subfield
from .leader import Leader
from .reader import MARCXMLReader
from .record import Record

__all__ = ["XmlHandler", "parse_xml", "map_xml", "parse_xml_to_array", "MARC_XML_NS"]

MARC_XML_NS = "http://www.loc.gov/MARC21/slim"


def _normalized(record: Record, form: str) -> Record:
    """The record with every text normalized to Unicode form ``form``."""
    record.leader = Leader(unicodedata.normalize(form, str(record.leader)))
    for field in record.fields:
        if field.control_field:
            field.data = unicodedata.normalize(form, field.data)
        else:
            field.subfields = [
                Subfield(s.code, unicodedata.normalize(form, s.value)) for s in field.subfields
            ]
    return record


def _records(xml_file: Any, normalize_form: Optional[str], errors: str, **kwargs: Any):
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip'")
    if normalize_form is not None:
        unicodedata.normalize(normalize_form, "")  # ValueError for a bad form, as pymarc
    with MARCXMLReader(xml_file, permissive=errors == "skip", **kwargs) as reader:
        for record in reader:
            if record is None:
                continue
            yield _normalized(record, normalize_form) if normalize_form else record


class XmlHandler:
    """Collects records, like pymarc's XmlHandler: override ``process_record``.

    With :func:`parse_xml` the pipeline parses the document and calls
    ``process_record(record)`` once per record, in document order; the
    default appends to ``self.records``. ``strict`` and ``normalize_form``
    as for :func:`parse_xml_to_array`. (pymarc's XmlHandler is an xml.sax
    ContentHandler; this one is fed whole records, so there are no SAX
    methods to override.)
    """

    def __init__(self, strict: bool = False, normalize_form: Optional[str] = None) -> None:
        self.records: List[Record] = []
        self._strict = strict
        self.normalize_form = normalize_form

    def process_record(self, record: Record) -> None:
        """Appends ``record`` to ``records``."""
        self.records.append(record)


def parse_xml(xml_file: Any, handler: Any, **kwargs: Any) -> None:
    """Parses a MARCXML file, calling ``handler.process_record`` per record.

    ``xml_file``: a path, a bytes-like object or a file object (binary or
    text). ``handler``: an :class:`XmlHandler` (or any object with
    ``process_record``); its ``normalize_form`` is applied. A handler
    without ``process_record`` (a plain xml.sax ContentHandler) is given to
    Python's own xml.sax parser instead, with namespaces on, as pymarc does.
    Keyword-only extras: ``errors`` ('raise' or 'skip'), ``threads``,
    ``chunk_size``, ``pool``.
    """
    process = getattr(handler, "process_record", None)
    if process is None:
        parser = xml.sax.make_parser()
        parser.setContentHandler(handler)
        parser.setFeature(feature_namespaces, 1)
        parser.parse(xml_file)
        return
    form = getattr(handler, "normalize_form", None)
    errors = kwargs.pop("errors", "raise")
    for record in _records(xml_file, form, errors, **kwargs):
        process(record)


def map_xml(function: Callable[[Record], Any], *files: Any) -> None:
    """Calls ``function(record)`` for each record of each MARCXML file, in order.

    As pymarc's map_xml: ``map_xml(do_it, 'a.xml', 'b.xml')``.
    """
    for xml_file in files:
        for record in _records(xml_file, None, "raise"):
            function(record)


def parse_xml_to_array(
    xml_file: Any,
    strict: bool = False,
    normalize_form: Optional[str] = None,
    *,
    errors: str = "raise",
    threads: Optional[int] = None,
    chunk_size: Optional[int] = None,
    pool: Optional[_marcpipe.Pool] = None,
) -> List[Record]:
    """The records of a MARCXML file as a list (pymarc's parse_xml_to_array).

    ``xml_file``: a path, a bytes-like object or a file object (binary or
    text). ``strict``: accepted for pymarc compatibility (see the module
    documentation). ``normalize_form``: 'NFC', 'NFKC', 'NFD' or 'NFKD' to
    normalize every text (unicodedata.normalize). The first bad record
    raises its exception (``RecordLeaderInvalid``, ``RecordSyntaxError``,
    ...), as pymarc raises; ``errors="skip"`` drops bad records and goes on.
    Keyword-only: ``threads``, ``chunk_size``, ``pool`` (a shared Pool).
    """
    return list(
        _records(
            xml_file, normalize_form, errors, threads=threads, chunk_size=chunk_size, pool=pool
        )
    )
