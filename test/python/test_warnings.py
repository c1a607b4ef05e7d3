"""Readable records with warnings, pymarc's exception classes and reading rules (issue 14)."""

import io
import logging
import os
import warnings

import pytest

import marcpipe
from marcpipe import MARCReader, _marcpipe
from conftest import make_record

CLEAN = make_record([("001", None, "c1"), ("245", "10", [("a", "Clean")])])


def raw_record(fields, coding=b"a"):
    """ISO 2709 from (tag, body bytes) with '$' as the subfield delimiter."""
    body = directory = b""
    for tag, data in fields:
        data = data.replace(b"$", b"\x1f") + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(data), len(body))
        body += data
    directory += b"\x1e"
    base = 24 + len(directory)
    leader = b"%05dnam %s22%05d   4500" % (base + len(body) + 1, coding, base)
    return leader + directory + body + b"\x1d"


# The real-catalogue case: a 650 ending in a bare subfield delimiter.
BARE = raw_record([("001", b"w1"), ("650", b" 0$aCats$xBehavior.$")])
NOIND = raw_record([("001", b"w2"), ("020", b"$a123")])


def items(data, **kw):
    r = MARCReader(data, **kw)
    out = []
    for x in r:
        out.append((x, r.current_exception))
    r.close()
    return out


def test_readable_records_are_records_with_warnings(caplog):
    data = CLEAN + BARE + NOIND + CLEAN
    with caplog.at_level(logging.WARNING, logger="marcpipe"):
        got = items(data, threads=2)
    assert all(x is not None and e is None for x, e in got)
    clean, bare, noind, _ = (x for x, _ in got)
    assert clean.warnings == ()
    (w,) = bare.warnings
    assert isinstance(w, marcpipe.RecordWarning) and w.kind == "SUBFIELD" and w.tag == "650"
    assert w.ordinal == 1 and w.offset == len(CLEAN) + bare_pos_of_last_delimiter()
    assert bare["650"].get_subfields("a", "x") == ["Cats", "Behavior."]
    (w,) = noind.warnings
    assert (w.kind, w.tag) == ("INDICATOR", "020")
    assert noind["020"].indicators == marcpipe.Indicators(" ", " ")
    # pymarc logs indicator problems; marcpipe logs every warning but codes.
    assert any("020" in r.getMessage() for r in caplog.records)
    assert all(x.offset is not None and x.ordinal is not None for x, _ in got)


def bare_pos_of_last_delimiter():
    return BARE.rindex(b"\x1f")


def test_strict_turns_warnings_into_errors_and_raises():
    r = MARCReader(CLEAN + BARE + CLEAN, strict=True)
    assert next(r)["245"]["a"] == "Clean"
    with pytest.raises(marcpipe.SubfieldInvalid) as ei:
        next(r)
    assert ei.value.kind == "SUBFIELD" and ei.value.ordinal == 1
    assert next(r)["245"]["a"] == "Clean"  # the stream goes on
    r.close()


def test_counts_apart():
    r = MARCReader(CLEAN + BARE + NOIND + b"junk\x1d" + CLEAN, threads=2)
    got = list(r)
    assert sum(x is None for x in got) == 1
    t = r.tally()
    assert (t["records"], t["errors"], t["warnings"], t["records_with_warnings"]) == (4, 1, 2, 2)
    assert t["warnings_by_kind"] == {"SUBFIELD": 1, "INDICATOR": 1}
    assert t["bytes"] == len(CLEAN) * 2 + len(BARE) + len(NOIND) + 5
    assert r.counts() == (4, 1, t["bytes"])
    r.close()


def test_bad_subfield_codes_as_pymarc():
    # UTF-8 record: U+00E1 as code is 'a' (NFKD), with pymarc's warning.
    u8 = raw_record([("001", b"x"), ("245", b"10$\xc3\xa1Title")])
    with pytest.warns(marcpipe.BadSubfieldCodeWarning):
        (x, e), = items(u8)
    assert e is None and x["245"]["a"] == "Title"
    # MARC-8 record: the code byte is not an ANSEL combining mark.
    m8 = raw_record([("001", b"x"), ("245", b"10$\xe1Title")], coding=b" ")
    with pytest.warns(marcpipe.BadSubfieldCodeWarning) as rec:
        (x, e), = items(m8)
    assert e is None and x["245"]["a"] == "Title"
    assert rec[0].message.offset == m8.index(b"\x1f\xe1") + 1


def test_pymarc_exception_classes():
    def exc(data):
        (x, e), = items(data)
        assert x is None
        return e

    assert type(exc(b"0012X")) is marcpipe.RecordLengthInvalid
    assert type(exc(b"00006 ")) is marcpipe.EndOfRecordNotFound
    assert type(exc(b"0012")) is marcpipe.TruncatedRecord
    assert type(exc(b"00120cam")) is marcpipe.TruncatedRecord
    empty_dir = b"00026nam a2200025   4500\x1e\x1d"
    e = exc(empty_dir)
    assert type(e) is marcpipe.NoFieldsFound and (e.offset, e.ordinal) == (0, 0)
    with pytest.raises(marcpipe.RecordLeaderInvalid):
        marcpipe.Record(data=b"foo")
    with pytest.raises(marcpipe.RecordLeaderInvalid):
        marcpipe.Record().decode_marc(b"")
    with pytest.raises(marcpipe.BaseAddressInvalid):
        marcpipe.Record().decode_marc(b"00695cam  2200241Ia 45x00")
    # Messages count records from 1; attributes from 0.
    (x, e), (y, f) = items(CLEAN + b"0012X")
    assert f.ordinal == 1 and "record 2 at byte %d" % len(CLEAN) in str(f)


def test_current_chunk_of_skipped_units_from_streams():
    data = CLEAN + b"junk\x1d" + CLEAN
    r = MARCReader(io.BytesIO(data))  # a callback source: nothing to read back
    got = [(x, r.current_chunk) for x in r]
    assert got[1] == (None, b"junk\x1d")
    assert got[0][1] is None or got[0][1] == CLEAN


def test_marc8_double_diacritics_option():
    m8 = raw_record([("001", b"x"), ("245", b"10$a\xebt\xecs \xfan\xfbg")], coding=b" ")
    (x, _), = items(m8)  # default: pymarc's halves
    assert x["245"]["a"] == "t\ufe20s\ufe21 n\ufe22g\ufe23"
    (x, _), = items(m8, marc8_double="combined")  # LoC's preferred form (and yaz's)
    assert x["245"]["a"] == "t\u0361s n\u0360g"
    assert marcpipe.Record(data=m8)["245"]["a"] == "t\ufe20s\ufe21 n\ufe22g\ufe23"
    with pytest.raises(ValueError, match="marc8_double"):
        MARCReader(m8, marc8_double="both")


def test_marc8_control_fields_read_as_latin1_like_pymarc():
    m8 = raw_record([("001", b"x\xe2e"), ("245", b"10$a\xe2e")], coding=b" ")
    (x, _), = items(m8)
    assert x["001"].data == "x\xe2e"  # pymarc: control fields are Latin-1
    assert x["245"]["a"] == "\xe9"  # data fields: MARC-8
    u8 = raw_record([("001", "x\u00e9".encode()), ("245", b"10$aT")])
    (x, _), = items(u8)
    assert x["001"].data == "x\u00e9"


def test_invalid_marc8_keeps_the_text_around_it():
    m8 = raw_record([("001", b"x"), ("245", b"10$aSoci\x1bt\xe2e")], coding=b" ")
    (x, e), = items(m8)
    assert e is None and x["245"]["a"] == "Soci\ufffdt\xe9"
    (w,) = x.warnings
    assert w.kind == "MARC8"


def test_options_name_field_and_value(tmp_path):
    with pytest.raises(ValueError, match=r"chunk_size = 12"):
        MARCReader(CLEAN, chunk_size=12)
    with pytest.raises(ValueError, match="utf8_handling"):
        MARCReader(CLEAN, utf8_handling="lax")
    with pytest.raises(IsADirectoryError) as ei:
        MARCReader(tmp_path)
    assert ei.value.filename == os.fspath(tmp_path)
    with pytest.raises(IsADirectoryError):
        MARCReader(os.fspath(tmp_path), threads=1)


def test_warnings_survive_decode_and_scan():
    rec = marcpipe.Record(data=BARE)
    assert [w.kind for w in rec.warnings] == ["SUBFIELD"] and rec.offset == 0
    items_, rc = _marcpipe._scan(CLEAN + BARE, sequential=True)
    assert rc == "MP_EOF" and [i[6] for i in items_] == [0, 1]
    items_, _ = _marcpipe._scan(CLEAN + BARE, sequential=True, strict=True)
    assert [i[0] for i in items_] == ["record", "error"]


def test_hide_utf8_warnings_keeps_repairs_off_the_log(caplog):
    m8 = raw_record([("001", b"x"), ("245", b"10$aBad \xaf")], coding=b" ")
    with caplog.at_level(logging.WARNING, logger="marcpipe"):
        (x, _), = items(m8, hide_utf8_warnings=True)
    assert [w.kind for w in x.warnings] == ["MARC8"] and not caplog.records
    with caplog.at_level(logging.WARNING, logger="marcpipe"):
        (x, _), = items(m8)
    assert caplog.records and "MARC8" in caplog.records[0].getMessage()


def test_warnings_filter_error_raises_from_next():
    with warnings.catch_warnings():
        warnings.simplefilter("error", marcpipe.BadSubfieldCodeWarning)
        u8 = raw_record([("001", b"x"), ("245", b"10$\xc3\xa1Title")])
        r = MARCReader(u8)
        with pytest.raises(marcpipe.BadSubfieldCodeWarning):
            next(r)
        r.close()


def test_marc8_module_as_pymarc():
    from marcpipe import marc8
    assert marcpipe.marc8_to_unicode is marc8.marc8_to_unicode
    assert marc8.marc8_to_unicode(b"CO\x1bb2\x1bs is a gas") == "CO\u2082 is a gas"
    assert marc8.marc8_to_unicode(b"\xebt\xecs") == "t\ufe20s\ufe21"  # pymarc's halves
    assert marc8.marc8_to_unicode(b"a\x1b$1\x7f \x14\x1b(B z") == "a\u2014 z"  # III em dash
    assert marc8.marc8_to_unicode(b"") == ""
    assert marc8.marc8_to_unicode(b"x\x01y") == "xy"  # C0 controls dropped, as pymarc
    # Starting sets other than Basic Latin / ANSEL.
    assert marc8.MARC8ToUnicode(G0=0x4E).translate(b"A") == "\u0430"  # Basic Cyrillic
    assert marc8.MARC8ToUnicode(G0=0x31).translate(b"!0!") == "\u4e00"  # EACC
    assert marc8.MARC8ToUnicode(G1=0x4E).translate(b"\xc1") == "\u0430"
    assert marc8.MARC8ToUnicode().translate(b"caf\xe2e") == "caf\xe9"
    # Invalid MARC-8 is visible (U+FFFD), the text around it kept.
    assert marc8.marc8_to_unicode(b"Soci\x1bt\xe2e") == "Soci\ufffdt\xe9"
