"""Writing from Python: MARCWriter, XMLWriter, JSONWriter, TextWriter,
record_to_xml(_node), as_marc/as_json/as_dict/str - byte for byte what pymarc
5.3.1 writes for the same records, whether a record comes straight from the
reader (serialised in C from its compact layout), was touched or edited
through Field objects, or was built by hand; and the shapes the C model does
not carry fall back to pymarc's behaviour.

pymarc itself comes from ../shared/peers/pymarc-5.3.1 (MARCPIPE_PYMARC); the
comparisons skip visibly without it.
"""

import io
import json
import os
import pathlib
import pickle
import sys
import xml.etree.ElementTree as ET

import pytest

import marcpipe
from marcpipe import Field, Indicators, MARCReader, Record, Subfield
from marcpipe.exceptions import RecordTooLarge, WriteNeedsRecord
from conftest import CORPUS, ROOT, make_record

PYMARC_DIR = pathlib.Path(os.environ.get("MARCPIPE_PYMARC", ROOT.parent / "shared" / "peers"
                                         / "pymarc-5.3.1"))


@pytest.fixture(scope="module")
def pymarc():
    if not (PYMARC_DIR / "pymarc").is_dir():
        pytest.skip(f"SKIP: pymarc 5.3.1 not found at {PYMARC_DIR} (set MARCPIPE_PYMARC)")
    sys.path.insert(0, str(PYMARC_DIR))
    try:
        import pymarc as pm
    finally:
        sys.path.remove(str(PYMARC_DIR))
    assert "shim" not in pm.__file__
    return pm


# Files that pymarc and marcpipe read record for record the same way.
SAME_FILES = ["realworld/watson_mma_pubs_2025_04.mrc", "pymarc/test.dat", "pymarc/marc.dat",
              "perl/camel.usmarc", "pymarc/one.dat", "pymarc/marc8.dat", "pymarc/diacritic.dat",
              "pymarc/multi_isbn.dat", "pymarc/utf8_with_leader_flag.dat", "pymarc/utf8_errors.dat"]


def both(pm, rel, **kw):
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"SKIP: {path} missing (set MARCPIPE_CORPUS)")
    with open(path, "rb") as f:
        theirs = list(pm.MARCReader(f, **kw))
    with MARCReader(str(path), **kw) as r:
        ours = list(r)
    assert len(ours) == len(theirs) and all(x is not None for x in ours + theirs)
    return ours, theirs


def write_all(cls, records, binary):
    buf = io.BytesIO() if binary else io.StringIO()
    w = cls(buf)
    for r in records:
        w.write(r)
    w.close(close_fh=False)
    return buf.getvalue()


WRITERS = [("MARCWriter", True), ("XMLWriter", True), ("JSONWriter", False),
           ("TextWriter", False)]


@pytest.mark.parametrize("rel", SAME_FILES)
def test_writers_equal_pymarc_on_the_corpus(pymarc, rel):
    ours, theirs = both(pymarc, rel)
    for name, binary in WRITERS:
        assert write_all(getattr(marcpipe, name), ours, binary) == \
            write_all(getattr(pymarc, name), theirs, binary), name


@pytest.mark.parametrize("rel", SAME_FILES[1:])  # the big file: writers only (time)
def test_record_serialisations_equal_pymarc(pymarc, rel):
    ours, theirs = both(pymarc, rel)
    for a, b in zip(ours, theirs):
        assert a.as_json() == b.as_json()
        assert a.as_dict() == b.as_dict()
        assert str(a) == str(b)
        assert marcpipe.record_to_xml(a) == pymarc.record_to_xml(b)
        assert marcpipe.record_to_xml(a, namespace=True) == pymarc.record_to_xml(b, namespace=True)
        assert a.as_marc() == b.as_marc()  # marks leader/09 'a' on both records
        assert str(a.leader) == str(b.leader)
        assert a.as_json(indent=1, sort_keys=True) == b.as_json(indent=1, sort_keys=True)


def test_str_and_as_dict_from_the_compact_record_equal_pymarc(pymarc):
    """str() and as_dict() of records as read are written from the compact
    layout (record.c, with a per-record cache of its ASCII-ness and of the
    text's size): equal to pymarc's on the realworld file (as_dict's key
    order too), and still after the leader object exists, after a leader
    edit and after a field edit; and for records restored from pickle."""
    ours, theirs = both(pymarc, "realworld/watson_mma_pubs_2025_04.mrc")
    assert any(not str(b).isascii() for b in theirs)  # both paths run
    for a, b in zip(ours, theirs):
        assert str(a) == str(b)
        da, db = a.as_dict(), b.as_dict()
        assert da == db
        assert json.dumps(da) == json.dumps(db)
        assert a.as_dict() is not da  # a new dict each call
    for a, b in zip(ours[:500], theirs[:500]):  # restored: the summary is made on first use
        c = pickle.loads(pickle.dumps(a))
        assert str(c) == str(b) and json.dumps(c.as_dict()) == json.dumps(b.as_dict())
    for i, (a, b) in enumerate(zip(ours[:300], theirs[:300])):
        assert str(a.leader) == str(b.leader)  # the Leader object now exists
        assert str(a) == str(b) and a.as_dict() == b.as_dict()
        a.leader[5] = b.leader[5] = "c"
        assert str(a) == str(b) and a.as_dict() == b.as_dict()
        if "245" in b:
            a["245"].add_subfield("z", "édition %d" % i)
            b["245"].add_subfield("z", "édition %d" % i)
        assert str(a) == str(b)
        assert json.dumps(a.as_dict()) == json.dumps(b.as_dict())


def test_str_of_a_state_whose_values_share_bytes():
    """A restored state may point values at the same text bytes (the state's
    checks only keep each value inside the text, and the data fields lose
    their runs): str() sizes it from the index and takes the subfields one
    by one; it equals the Python layer's MARCMaker text of the same
    record."""
    import struct
    with MARCReader(str(CORPUS / "pymarc" / "test.dat")) as r:
        rec = next(iter(r))
    st = list(rec._state())
    blob, nf, ns = bytearray(st[2]), st[3], st[4]
    subs = 24 + nf * 24
    text = len(blob) - subs - ns * 12
    for j in range(ns):  # every value: the whole text area
        struct.pack_into("=II", blob, subs + j * 12, 0, text)
    st[2] = bytes(blob)
    a = marcpipe._marcpipe._record_restore(Record, tuple(st))
    b = marcpipe._marcpipe._record_restore(Record, tuple(st))
    out = str(a)
    assert len(out) > text * ns
    assert out == str(a) == b._str_pymarc()
    assert a.as_dict() == b.as_dict()


# Pieces for the decoder of str(record): valid characters of each width
# and the invalid shapes CPython replaces (stray continuation, overlong,
# surrogate, truncated, C0/C1 and F5 leads, a code point past U+10FFFF).
UTF8_PIECES = [b"\xc3\xa9", b"\xc2\x80", b"\xc4\x81", b"\xdf\xbf", b"\xe2\x82\xac",
               b"\xe0\xa0\x80", b"\xef\xbf\xbf", b"\xcc\x81", b"\xf0\x9f\x98\x80",
               b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80",
               b"\xe2\x82", b"\xc3", b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xff"]


def survey(data):
    """What text_survey finds: continuation bytes and the largest byte."""
    return sum(0x80 <= c < 0xC0 for c in data), max(data, default=0)


def test_text_decoder_equals_cpython_at_every_position():
    """text.c's two-pass decoder (str(record) of a non-ASCII record) gives
    data.decode("utf-8", "replace") for each piece, alone and twice, at
    every position of ASCII runs long enough for its 16- and 32-byte
    blocks; with its own survey, with the right claim, and with wrong
    claims (a count one off, a smaller or larger largest byte), which must
    cost time only. Equality also checks the kind: CPython's strings of
    another kind never compare equal."""
    dec = marcpipe._marcpipe._text_from_utf8
    for piece in UTF8_PIECES:
        for body in (piece, piece * 2, piece + b"x" + piece):
            for n in range(0, 70):
                data = b"a" * n + body + b"b" * (69 - n)
                want = data.decode("utf-8", "replace")
                cont, top = survey(data)
                assert dec(data) == want, (piece, n)
                assert dec(data, cont, top) == want, (piece, n)
                for c, t in ((cont + 1, top), (max(cont - 1, 0), top), (cont, 0xC3),
                             (cont, 0xEF), (cont, 0xC4), (cont, 0x80)):
                    assert dec(data, c, t) == want, (piece, n, c, t)
    for data in (b"", b"plain ascii", bytes(range(256)), "é" .encode() * 5000,
                 ("\u0101x" * 3000).encode(), b"\xe2\x82\xac" * 2000 + b"\x80"):
        assert dec(data) == data.decode("utf-8", "replace")
        assert dec(data, *survey(data)) == data.decode("utf-8", "replace")


def test_str_of_a_state_with_forged_runs():
    """A data field's run (LAYOUT_RUN: "$" code value per subfield, copied
    whole by str()) is checked when a state is restored: a state whose run
    bytes, offsets or length were changed loses the flag and str() takes
    the subfields one by one, equal to the Python layer's text."""
    import struct
    with MARCReader(str(CORPUS / "pymarc" / "test.dat")) as r:
        rec = next(iter(r))
    good = str(rec)
    st = list(rec._state())
    blob, nf, ns = bytes(st[2]), st[3], st[4]
    text0 = 24 + nf * 24 + ns * 12
    data = [i for i in range(nf) if blob[24 + i * 24 + 5] == 0]  # not control
    assert data
    i = data[0]
    off, length = struct.unpack_from("=II", blob, 24 + i * 24 + 16)
    flags = struct.unpack_from("=H", blob, 24 + i * 24 + 6)[0]
    assert flags & 1 and blob[text0 + off:text0 + off + 1] == b"$"
    forged = []
    b = bytearray(blob)
    b[text0 + off] = ord("#")  # the "$" of the first subfield
    forged.append(b)
    b = bytearray(blob)
    struct.pack_into("=II", b, 24 + i * 24 + 16, off, length - 1)  # a run one byte short
    forged.append(b)
    b = bytearray(blob)
    struct.pack_into("=II", b, 24 + i * 24 + 16, off + 1, length)  # moved
    forged.append(b)
    b = bytearray(blob)
    struct.pack_into("=II", b, 24 + i * 24 + 16, off, 1 << 30)  # past the blob
    forged.append(b)
    for b in forged:
        st[2] = bytes(b)
        a = marcpipe._marcpipe._record_restore(Record, tuple(st))
        c = marcpipe._marcpipe._record_restore(Record, tuple(st))
        assert str(a) == c._str_pymarc()
    st[2] = blob
    assert str(marcpipe._marcpipe._record_restore(Record, tuple(st))) == good


def same_tree(x, y):
    assert (x.tag, list(x.attrib.items()), x.text, x.tail) == \
        (y.tag, list(y.attrib.items()), y.text, y.tail)
    assert len(x) == len(y)
    for u, v in zip(x, y):
        same_tree(u, v)


def test_record_to_xml_node_equals_pymarc(pymarc):
    ours, theirs = both(pymarc, "pymarc/test.dat")
    for a, b in zip(ours, theirs):
        for ns in (False, True):
            x = marcpipe.record_to_xml_node(a, namespace=ns)
            y = pymarc.record_to_xml_node(b, namespace=ns)
            assert isinstance(x, ET.Element)
            same_tree(x, y)
            assert ET.tostring(x) == ET.tostring(y)


@pytest.mark.parametrize("touch", ["one_field", "all_fields", "edit", "add"])
def test_touched_and_edited_records_equal_pymarc(pymarc, touch):
    ours, theirs = both(pymarc, "pymarc/test.dat")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if touch == "one_field":  # a cached Field object, the rest still compact
            a["245"].subfields.append(Subfield("9", "x"))
            b["245"].subfields.append(pymarc.Subfield("9", "x"))
            a["001"].data = b["001"].data = "changed %d" % i
        elif touch == "all_fields":  # the materialized list is authoritative
            assert len(a.fields) == len(b.fields)
        elif touch == "edit":
            for r, mod in ((a, marcpipe), (b, pymarc)):
                f = r["245"]
                f["a"] = "Edited ; title é"
                f.add_subfield("z", "added", 0)
                f.indicators = mod.Indicators("0", "4")
                r.remove_fields("650")
        else:
            a.add_field(Field("500", Indicators(" ", " "), [Subfield("a", "Note <&> \"x\"")]))
            b.add_field(pymarc.Field("500", pymarc.Indicators(" ", " "),
                                     [pymarc.Subfield("a", "Note <&> \"x\"")]))
            a.leader = "00000nam a2200000 a 4500"
            b.leader = pymarc.Leader("00000nam a2200000 a 4500")
        assert a.as_json() == b.as_json()
        assert a.as_dict() == b.as_dict()
        assert str(a) == str(b)
        assert marcpipe.record_to_xml(a) == pymarc.record_to_xml(b)
        assert a.as_marc() == b.as_marc()
    for name, binary in WRITERS:
        assert write_all(getattr(marcpipe, name), ours, binary) == \
            write_all(getattr(pymarc, name), theirs, binary), name


def build(mod):
    r = mod.Record()
    r.add_field(mod.Field("001", data="cn1"))
    r.add_field(mod.Field("008", data="090227s2009    mau                 chi d"))
    r.add_field(mod.Field("100", mod.Indicators("1", " "), [mod.Subfield("a", "Dvořák, Antonín")]))
    r.add_field(mod.Field("245", mod.Indicators("1", "0"),
                          [mod.Subfield("a", "Tab\there & <there> \"q\" 😀 /"),
                           mod.Subfield("c", ""), mod.Subfield("b", "CR\rLF\n")]))
    r.add_field(mod.Field("650", mod.Indicators(" ", "0"), []))
    return r


def test_records_built_by_hand_equal_pymarc(pymarc):
    a, b = build(marcpipe), build(pymarc)
    assert a.as_json() == b.as_json()
    assert a.as_dict() == b.as_dict()
    assert str(a) == str(b)
    # One deliberate difference: a CR in text is written as &#13; (ElementTree
    # writes it raw, and every XML parser turns a raw CR into LF).
    ours = marcpipe.record_to_xml(a)
    assert ours.replace(b"&#13;", b"\r") == pymarc.record_to_xml(b)
    assert ET.fromstring(ours)[-2][2].text == "CR\rLF\n"
    assert ET.fromstring(pymarc.record_to_xml(b))[-2][2].text == "CR\nLF\n"
    same_tree(marcpipe.record_to_xml_node(a), pymarc.record_to_xml_node(b))
    for name, binary in WRITERS:
        got = write_all(getattr(marcpipe, name), [a], binary)
        if name == "XMLWriter":
            got = got.replace(b"&#13;", b"\r")
        assert got == write_all(getattr(pymarc, name), [b], binary), name
    # ... and read back by marcpipe's reader, field for field.
    back = next(iter(MARCReader(a.as_marc())))
    assert back.as_dict()["fields"] == a.as_dict()["fields"]


def test_shapes_the_c_model_does_not_carry_fall_back_to_pymarc(pymarc):
    # Bytes values (to_unicode=False), a 4-character tag, a two-character
    # indicator, a separator inside a value.
    ours, theirs = both(pymarc, "pymarc/marc8.dat", to_unicode=False)
    for a, b in zip(ours, theirs):
        assert a.as_marc() == b.as_marc()
        assert marcpipe.record_to_xml(a) == pymarc.record_to_xml(b)
    a, b = build(marcpipe), build(pymarc)
    for r, mod in ((a, marcpipe), (b, pymarc)):
        r.add_field(mod.Field("9999", mod.Indicators("x", "y"), [mod.Subfield("a", "long tag")]))
        r.add_field(mod.Field("590", mod.Indicators("ab", " "), [mod.Subfield("a", "wide")]))
        r.add_field(mod.Field("591", mod.Indicators(" ", " "), [mod.Subfield("a", "x\x1fy")]))
    assert a.as_marc() == b.as_marc()
    assert a.as_json() == b.as_json()
    assert str(a) == str(b)
    assert marcpipe.record_to_xml(a) == pymarc.record_to_xml(b)


def test_writer_contract():
    fh = io.BytesIO()
    w = marcpipe.MARCWriter(fh)
    with pytest.raises(WriteNeedsRecord):
        w.write("not a record")
    w.close()
    assert fh.closed
    fh = io.StringIO()
    w = marcpipe.JSONWriter(fh)
    w.close(close_fh=False)
    assert not fh.closed and fh.getvalue() == "[]" and w.file_handle is None
    fh = io.BytesIO()
    w = marcpipe.XMLWriter(fh)
    w.close(close_fh=False)
    assert fh.getvalue() == (b'<?xml version="1.0" encoding="UTF-8"?>'
                             b'<collection xmlns="http://www.loc.gov/MARC21/slim"></collection>')
    fh = io.StringIO()
    marcpipe.TextWriter(fh).close(close_fh=False)
    assert fh.getvalue() == ""


def test_html_entities_equal_pymarc(pymarc):
    def rec(mod):
        r = mod.Record()
        r.add_field(mod.Field("001", data="café123"))
        r.add_field(mod.Field("245", mod.Indicators("0", "0"),
                              [mod.Subfield("a", "Café naïve Ἀθῆναι Ǆ ŉ"), mod.Subfield("b", "漢字 ✓")]))
        return r
    for name, binary in WRITERS:
        ours, theirs = rec(marcpipe), rec(pymarc)
        got = write_all(lambda fh: getattr(marcpipe, name)(fh, html_entities=True), [ours], binary)
        want = write_all(lambda fh: getattr(pymarc, name)(fh, html_entities=True), [theirs], binary)
        assert got == want, name
        assert ours["245"]["a"] == theirs["245"]["a"]  # both mutate the record
    from marcpipe.htmlutils import html_escape_unicode
    for s in ("plain", "Ünïcödé ĀĒĪŌŪ ǅ", "Ἀθῆναι ῷ", "Ёё Йй Ўў", "\u0301x", "€ ✓ 😀", b"bytes"):
        assert html_escape_unicode(s) == pymarc.htmlutils.html_escape_unicode(s), s


def test_as_marc_refuses_what_iso2709_cannot_hold():
    r = Record()
    for i in range(12):
        r.add_field(Field("500", Indicators(" ", " "), [Subfield("a", "x" * 9000)]))
    with pytest.raises(RecordTooLarge) as e:
        r.as_marc()
    assert isinstance(e.value, ValueError) and "99999" in str(e.value)
    with pytest.raises(RecordTooLarge):
        marcpipe.MARCWriter(io.BytesIO()).write(r)
    r.fields[0].subfields = [Subfield("a", "y" * 9995)]  # one field over 9999 bytes
    del r.fields[1:]
    with pytest.raises(RecordTooLarge):
        r.as_marc()
    # Other formats have no such limit.
    assert len(r.as_json()) > 9995 and len(marcpipe.record_to_xml(r)) > 9995


def test_serialisations_of_a_damaged_record_read_in_permissive_mode():
    # A record with a bad indicator count still serialises (what was parsed).
    bad = make_record([("001", None, "x"), ("245", "1", [("a", "T")])])
    with MARCReader(bad + make_record([("001", None, "y")]), permissive=True) as reader:
        recs = list(reader)
    for r in recs:
        if r is not None:
            assert r.as_json() and str(r) and r.as_marc()
