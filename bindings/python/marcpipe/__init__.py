"""marcpipe: a fast, pymarc-compatible MARC 21 reader and writer on a multi-threaded C pipeline.

    import marcpipe
    with marcpipe.MARCReader("books.mrc") as reader:
        for record in reader:
            if record is None:
                print(reader.current_exception)
                continue
            print(record.title)

Switching from pymarc: ``from marcpipe import MARCReader`` (and MARCWriter,
XMLWriter, JSONWriter, TextWriter, record_to_xml: pymarc's writers, in C).

Parallel and distributed reading: ``marcpipe.splits(path, parts=8)`` plans
byte ranges that readers (``MARCReader(split)``) read independently;
records pickle compactly; ``marcpipe.dask.read_marc`` (an optional module:
importing marcpipe does not import Dask) reads files as a ``dask.bag``.
"""

from . import _compat, _marcpipe
from . import exceptions, field, htmlutils, leader, marc8, reader, record, writer
from .exceptions import *  # noqa: F401,F403
from .field import END_OF_FIELD, SUBFIELD_INDICATOR, Field, Indicators, RawField, Subfield
from .leader import Leader
from .marc8 import MARC8ToUnicode, marc8_to_unicode
from .reader import MARCReader, Pool, map_records
from .record import END_OF_RECORD, Record, _title_slow, map_marc8_record
from .split import Split, parse_bytes, splits
from .writer import (
    JSONWriter,
    MARCWriter,
    TextWriter,
    Writer,
    XMLWriter,
    record_to_xml,
    record_to_xml_node,
)

__version__ = "0.1.0"
LIB_VERSION = _marcpipe.LIB_VERSION

_marcpipe._register(
    record=Record,
    field_factory=Field._fast,
    subfield=Subfield,
    indicators=Indicators,
    leader=Leader,
    error_factory=_compat.make_error,
    title_slow=_title_slow,
    error_base=exceptions.PymarcException,
    warning_factory=_compat.make_warning,
    warning_hook=_compat.warning_hook,
)

__all__ = [
    "MARCReader",
    "Pool",
    "Record",
    "Field",
    "RawField",
    "Subfield",
    "Indicators",
    "Leader",
    "map_records",
    "map_marc8_record",
    "splits",
    "Split",
    "parse_bytes",
    "Writer",
    "MARCWriter",
    "XMLWriter",
    "JSONWriter",
    "TextWriter",
    "record_to_xml",
    "record_to_xml_node",
    # pymarc's submodules, also as attributes of the package (pymarc.reader.MARCReader)
    "exceptions",
    "field",
    "htmlutils",
    "leader",
    "marc8",
    "marc8_to_unicode",
    "MARC8ToUnicode",
    "reader",
    "record",
    "writer",
    "END_OF_FIELD",
    "END_OF_RECORD",
    "SUBFIELD_INDICATOR",
] + exceptions.__all__
