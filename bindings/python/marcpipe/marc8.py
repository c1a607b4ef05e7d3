"""MARC-8 -> Unicode as pymarc's ``pymarc.marc8`` does it, on the C decoder.

``marc8_to_unicode(b"CO\\x1bb2\\x1bs")`` -> ``"CO\\u2082"``. The text is
decoded by the library's MARC-8 decoder (escape sequences, combining marks
after their base, EACC, the III vendor codes pymarc knows, NFC), with
pymarc's conventions: the double diacritics as their halves U+FE20-U+FE23,
C0 control characters dropped. pymarc's own test file (1,515 lines of
``test_marc8.txt``) decodes to its ``test_utf8.txt`` exactly. Where the
input is not valid MARC-8 the result holds U+FFFD (pymarc: a space, or
``UnicodeDecodeError`` for a broken EACC run).
"""

from __future__ import annotations

from ._compat import _marc8

__all__ = ["marc8_to_unicode", "MARC8ToUnicode"]

_FINALS_G0 = {0x31: b"\x1b$1"}  # EACC is a multibyte set


def _translate(marc8: bytes, prefix: bytes = b"") -> str:
    if not marc8:
        return ""
    text = _marc8(prefix + bytes(marc8))
    # pymarc drops C0 control characters (after multibyte assembly, so the
    # III codes that contain 0x14/0x19 still map).
    return "".join(ch for ch in text if ord(ch) >= 0x20)


def marc8_to_unicode(marc8: bytes, hide_utf8_warnings: bool = False) -> str:
    """MARC-8 bytes -> str (NFC). ``hide_utf8_warnings`` is accepted for
    pymarc compatibility: problems are never printed, they become U+FFFD."""
    return _translate(marc8)


class MARC8ToUnicode:
    """pymarc's converter object: ``MARC8ToUnicode().translate(b"...")``.

    ``G0`` / ``G1``: the character sets in effect at the start (the final
    bytes of their escape sequences: 0x42 Basic Latin, 0x45 ANSEL, 0x31
    EACC, ...); ``quiet`` is accepted for pymarc compatibility.
    """

    basic_latin = 0x42
    ansel = 0x45

    def __init__(self, G0: int = basic_latin, G1: int = ansel, quiet: bool = False) -> None:
        self.g0 = G0
        self.g1 = G1
        self.quiet = quiet

    def translate(self, marc8_string: bytes) -> str:
        prefix = b""
        if self.g0 != self.basic_latin:
            prefix += _FINALS_G0.get(self.g0, b"\x1b(" + bytes([self.g0]))
        if self.g1 != self.ansel:
            prefix += b"\x1b$)1" if self.g1 == 0x31 else b"\x1b)" + bytes([self.g1])
        return _translate(marc8_string, prefix)
