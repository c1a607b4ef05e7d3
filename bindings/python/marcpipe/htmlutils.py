"""HTML character references for non-ASCII text (pymarc 5.x's ``htmlutils``).

``Writer(..., html_entities=True)`` passes every value through
:func:`html_escape_unicode`: ASCII stays, a precomposed letter with a
diacritic from the Latin, Greek and Cyrillic ranges pymarc lists becomes its
decomposition as references (``é`` -> ``&eacute;`` when the whole letter has
a name, else ``e&#769;``-style pieces), any other character its HTML name or
``&#N;``.
"""

from __future__ import annotations

import html.entities
import unicodedata
from typing import Any, Optional

__all__ = ["html_escape_unicode", "decompose_diacritics_html"]

# Code points whose decomposition pymarc writes piece by piece (inclusive
# ranges): Latin Extended-A/B, combining marks, Greek and Cyrillic letters
# with diacritics.
_DECOMPOSED = (
    (256, 382), (461, 496), (500, 501), (504, 539), (542, 543), (550, 563),
    (768, 901), (938, 944), (970, 974), (979, 980), (1024, 1025), (1027, 1027),
    (1031, 1031), (1036, 1038), (1081, 1081), (1104, 1105), (1107, 1107),
    (1111, 1111), (1116, 1118), (1142, 1143), (1148, 1151), (1154, 1161),
    (1217, 1218), (1232, 1235), (1238, 1239), (1242, 1247), (1250, 1255),
    (1258, 1273), (7936, 8190),
)

_NAMES = html.entities.codepoint2name


def _reference(cp: int) -> str:
    name = _NAMES.get(cp)
    return f"&{name};" if name else f"&#{cp};"


def decompose_diacritics_html(char: str) -> Optional[str]:
    """The NFD pieces of ``char`` as references, or None when ``char`` is
    not one of the letters with diacritics handled this way."""
    cp = ord(char)
    if not any(lo <= cp <= hi for lo, hi in _DECOMPOSED):
        return None
    return "".join(_reference(ord(c)) for c in unicodedata.normalize("NFD", char))


def html_escape_unicode(text: Any) -> Any:
    """``text`` with every non-ASCII character as an HTML reference (names
    preferred to numbers). Values that are not str are returned as they are."""
    if not isinstance(text, str) or text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        pieces = decompose_diacritics_html(ch)
        out.append(pieces if pieces is not None else _reference(ord(ch)))
    return "".join(out)
