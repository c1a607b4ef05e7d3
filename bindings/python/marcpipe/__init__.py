"""marcpipe: a fast, pymarc-compatible MARC 21 reader on a multi-threaded C pipeline.

    import marcpipe
    with marcpipe.MARCReader("books.mrc") as reader:
        for record in reader:
            if record is None:
                print(reader.current_exception)
                continue
            print(record.title)

Switching from pymarc: ``from marcpipe import MARCReader``.
"""

from . import _compat, _marcpipe
from . import exceptions
from .exceptions import *  # noqa: F401,F403
from .field import END_OF_FIELD, SUBFIELD_INDICATOR, Field, Indicators, RawField, Subfield
from .leader import Leader
from .reader import MARCReader, Pool, map_records
from .record import END_OF_RECORD, Record, _title_slow, map_marc8_record

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
    "exceptions",
    "END_OF_FIELD",
    "END_OF_RECORD",
    "SUBFIELD_INDICATOR",
] + exceptions.__all__
