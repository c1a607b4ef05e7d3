"""pymarc's lenient decoding of one damaged record, for units the C parser rejects
but pymarc reads (missing or extra indicators, bytes before the first subfield,
a missing field terminator, a non-ASCII subfield code). Rare: speed is not a goal.
"""

from __future__ import annotations

import unicodedata
import warnings
from typing import List, Tuple

from . import _marcpipe
from .exceptions import BadSubfieldCodeWarning
from .field import Field, Indicators, RawField, Subfield
from .leader import Leader


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


def pymarc_decode(marc: bytes, to_unicode: bool, force_utf8: bool, utf8_handling: str):
    from .record import Record

    leader = marc[0:24].decode("ascii")
    utf8 = leader[9] == "a" or force_utf8
    base = int(marc[12:17])
    directory = marc[24 : base - 1].decode("ascii")
    fields: List[Field] = []
    for i in range(len(directory) // 12):
        entry = directory[i * 12 : i * 12 + 12]
        tag, length, start = entry[0:3], int(entry[3:7]), int(entry[7:12])
        data = marc[base + start : base + start + length - 1]
        if tag < "010" and tag.isdigit():
            value = data.decode("utf-8" if utf8 else "iso8859-1") if to_unicode else data
            fields.append(Field._fast(tag, None, None, value, not to_unicode))
            continue
        parts = data.split(b"\x1f")
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
    rec.leader = Leader(leader)
    rec.fields = fields
    return rec
