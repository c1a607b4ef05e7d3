"""The pymarc compatibility layer: its tables are total and the package has no import cycle."""

import ast
import re

import marcpipe
from marcpipe import _compat, _marcpipe
from marcpipe.exceptions import PymarcException

from conftest import ROOT, make_record

PACKAGE = ROOT / "bindings" / "python" / "marcpipe"  # the sources, not a build copy


def header_kinds():
    """The kinds of MP_ERROR_KIND_MAP in the public header, in order."""
    text = (ROOT / "stages" / "include" / "marcpipe" / "record.h").read_text()
    body = text[text.index("#define MP_ERROR_KIND_MAP") : text.index("typedef enum mp_error_kind")]
    return re.findall(r"XX\((\w+),", body)


def test_kind_table_covers_every_c_error_kind():
    kinds = _marcpipe._error_kinds()
    assert kinds == header_kinds()  # the extension is built from this tree's header
    assert set(_compat.KIND_CLASS) == set(kinds)
    for kind, cls in _compat.KIND_CLASS.items():
        assert issubclass(cls, PymarcException), kind
    assert _compat.PARSE_KINDS <= set(kinds) and _compat.SPAN_KINDS <= set(kinds)


def test_error_item_carries_its_position():
    e = _compat.make_error("TRUNCATED", -1, 3, 100, 40, "ocm1", "", "", None, message="short")
    assert type(e) is marcpipe.TruncatedRecord
    assert (e.kind, e.ordinal, e.offset, e.length, e.control_number) == ("TRUNCATED", 3, 100, 40, "ocm1")


def test_pymarc_checks_pick_pymarc_classes():
    good = make_record([("001", None, "x1"), ("245", "10", [("a", "T")])])
    assert _compat.pymarc_check(good) is None
    empty = b"00026nam  2200025   4500\x1e\x1d"
    assert _compat.pymarc_check(empty)[0] is marcpipe.NoFieldsFound
    # pymarc's reader framing: the 5-digit length, then the end of record byte.
    assert _compat.pymarc_framing(b"0012") is marcpipe.TruncatedRecord
    assert _compat.pymarc_framing(b"0012X") is marcpipe.RecordLengthInvalid
    assert _compat.pymarc_framing(b"00120cam") is marcpipe.TruncatedRecord
    assert _compat.pymarc_framing(b"00006 ") is marcpipe.EndOfRecordNotFound
    assert _compat.pymarc_framing(b"00006\x1d") is None
    # decode context: pymarc's decode_marc checks in its order.
    e = _compat.make_error("TRUNCATED", -2, 0, 0, 25, "", "", "", b"00695cam  2200241Ia 45x00",
                           decode=True)
    assert type(e) is marcpipe.BaseAddressInvalid
    e = _compat.make_error("JUNK", -2, 0, 0, 3, "", "", "", b"foo", decode=True)
    assert type(e) is marcpipe.RecordLeaderInvalid
    # reader context: a junk span keeps its class when pymarc's framing agrees.
    e = _compat.make_error("JUNK", -2, 4, 10, 2, "", "", "", b"\r\n")
    assert type(e) is marcpipe.TruncatedRecord
    e = _compat.make_error("JUNK", -2, 4, 10, 5, "", "", "", b"junk\x1d")
    assert type(e) is marcpipe.JunkSkipped and isinstance(e, marcpipe.RecordLengthInvalid)


def test_warning_factory_classes():
    w = _compat.make_warning("SUBFIELD", 481, 0, "245", "a", "code byte 0xC3")
    assert type(w) is marcpipe.BadSubfieldCodeWarning and isinstance(w, marcpipe.RecordWarning)
    assert isinstance(w, Warning) and (w.offset, w.ordinal, w.tag) == (481, 0, "245")
    assert str(w).startswith("record 1 at byte 481: SUBFIELD")
    w = _compat.make_warning("SUBFIELD", 5, 2, "500", "", "empty subfield")
    assert type(w) is marcpipe.RecordWarning
    w = _compat.make_warning("INDICATOR", 5, 2, "020", "", "no indicators")
    assert type(w) is marcpipe.RecordWarning and w.kind == "INDICATOR"


def _imports(path):
    """(module-level imports, imports inside functions or classes) of a module."""
    tree = ast.parse(path.read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    nested = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and n not in top]
    return top, nested


def test_exceptions_is_a_leaf_and_nothing_defers_an_import():
    top, _ = _imports(PACKAGE / "exceptions.py")
    for n in top:
        assert isinstance(n, ast.ImportFrom) and n.level == 0 and n.module in ("__future__", "typing"), ast.dump(n)
    for path in sorted(PACKAGE.glob("*.py")):
        _, nested = _imports(path)
        assert not nested, f"{path.name}: deferred import at line {nested[0].lineno}"
