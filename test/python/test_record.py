"""Record / Field / Leader behaviour (pymarc 5.x surface), no corpus needed."""

import json

import pytest

import marcpipe
from marcpipe import Field, Indicators, Leader, MARCReader, Record, Subfield
from conftest import make_record

REC = make_record([
    ("001", None, "ocm123"),
    ("008", None, "850101s1985    xx a"),
    ("020", "  ", [("a", "0-8058-0734-X (pbk.)")]),
    ("022", "  ", [("a", "1234-5678"), ("l", "1234-567X")]),
    ("100", "1 ", [("a", "Hunt, Andrew,"), ("d", "1964-")]),
    ("245", "14", [("a", "The pragmatic programmer :"), ("b", "from journeyman to master /"),
                   ("c", "Andrew Hunt.")]),
    ("260", "  ", [("a", "Boston :"), ("b", "Addison-Wesley,"), ("c", "2000.")]),
    ("650", " 0", [("a", "Computer programming"), ("x", "Handbooks"), ("v", "Manuals.")]),
    ("650", " 0", [("a", "Software engineering.")]),
    ("500", "  ", [("a", "A note.")]),
])


def one(data=REC, **kw):
    with MARCReader(data, threads=1, **kw) as r:
        recs = list(r)
    assert len(recs) == 1 and recs[0] is not None
    return recs[0]


def test_properties():
    r = one()
    assert isinstance(r, Record)
    assert r.title == "The pragmatic programmer : from journeyman to master /"
    assert r.author == "Hunt, Andrew, 1964-"
    assert r.isbn == "080580734X"
    assert r.issn == "1234-5678"
    assert r.issnl == "1234-567X"
    assert r.publisher == "Addison-Wesley,"
    assert r.pubyear == "2000."
    assert [f["a"] for f in r.subjects] == ["Computer programming", "Software engineering."]
    assert r.subjects[0].format_field() == "Computer programming -- Handbooks -- Manuals."
    assert [str(f) for f in r.notes] == ["=500  \\\\$aA note."]
    assert r.uniformtitle is None and r.sudoc is None and r.issn_title is None
    assert r.series == [] and r.location == [] and r.physicaldescription == []
    assert r.offset == 0 and r.ordinal == 0


def test_getitem_get_contains_identity():
    r = one()
    with pytest.raises(KeyError):
        r["999"]
    assert r.get("999") is None
    sentinel = Field("999", Indicators(" ", " "))
    assert r.get("999", sentinel) is sentinel
    assert "245" in r and "999" not in r
    f = r["245"]
    assert f is r["245"] is r.get_fields("245")[0]
    assert f.indicators == Indicators("1", "4") and f.indicator1 == "1" and f.indicator2 == "4"
    assert f.subfields[0] == Subfield(code="a", value="The pragmatic programmer :")
    assert f["c"] == "Andrew Hunt."
    with pytest.raises(KeyError):
        f["z"]
    assert f.get_subfields("a", "c") == ["The pragmatic programmer :", "Andrew Hunt."]
    assert r["001"].data == "ocm123" and r["001"].is_control_field()
    assert r["001"].value() == "ocm123"
    assert len(r.get_fields()) == 10
    assert [x.tag for x in r.get_fields("650", "100")] == ["100", "650", "650"]


def test_edits_stick():
    r = one()
    r["245"]["a"] = "Changed"
    assert r.title == "Changed from journeyman to master /"
    r2 = one()
    r2.fields  # materialize
    r2.remove_fields("245")
    assert r2.title is None
    r2.add_ordered_field(Field("245", Indicators("0", "0"), [Subfield("a", "New")]))
    assert r2.title == "New" and r2.fields[5].tag == "245"


def test_title_rules():
    def t(subs):
        return one(make_record([("245", "00", subs)])).title
    assert t([("a", "A"), ("b", "B")]) == "A B"
    assert t([("a", "A")]) == "A"
    assert t([("b", "B")]) is None
    assert t([("a", ""), ("b", "B")]) == ""
    assert t([("a", "A"), ("b", "")]) == "A"
    assert t([("b", "B"), ("a", "A"), ("a", "X")]) == "A B"
    assert one(make_record([("100", "  ", [("a", "x")])])).title is None


def test_str_as_dict_as_json_as_marc():
    r = one()
    s = str(r)
    assert s.startswith("=LDR  ") and "\n=245  14$aThe pragmatic programmer :$bfrom" in s
    assert "=008  850101s1985\\\\\\\\xx\\a" in s
    d = r.as_dict()
    assert d["leader"] == str(r.leader)
    assert d["fields"][0] == {"001": "ocm123"}
    assert d["fields"][5]["245"]["ind1"] == "1"
    assert json.loads(r.as_json()) == d
    raw = r.as_marc()
    assert raw == REC and r.as_marc21() == REC
    back = Record(data=raw)
    assert back.as_dict() == d


def test_leader():
    r = one()
    ld = r.leader
    assert isinstance(ld, Leader) and len(str(ld)) == 24
    assert ld[9] == "a" and ld.coding_scheme == "a" and ld.record_status == "n"
    assert ld["type_of_record"] == "a" and ld[0:5] == str(ld)[0:5]
    ld.record_status = "c"
    assert str(ld)[5] == "c"
    ld[6] = "t"
    assert ld.type_of_record == "t"
    with pytest.raises(marcpipe.BadLeaderValue):
        ld.record_status = "xx"
    with pytest.raises(marcpipe.RecordLeaderInvalid):
        Leader("short")


def test_manual_record():
    r = Record()
    assert r.fields == [] and str(r.leader)[10:12] == "22"
    r.add_field(Field(tag="245", indicators=["0", "1"], subfields=[Subfield("a", "T"), Subfield("b", "S")]))
    r.add_field(Field(tag=1, data="id"))
    assert r.title == "T S" and r["001"].data == "id"
    assert Record(force_utf8=True).leader[9] == "a"
    with pytest.raises(ValueError):
        Field("245", ["0", "1"], ["a", "legacy"])
    assert Field.convert_legacy_subfields(["a", "x", "b", "y"]) == [("a", "x"), ("b", "y")]


def test_raw_mode():
    r = one(to_unicode=False)
    assert r["245"]["a"] == b"The pragmatic programmer :"
    assert isinstance(r["245"], marcpipe.RawField)
    assert r["001"].data == b"ocm123"


def test_record_data_errors():
    with pytest.raises(marcpipe.PymarcException):
        Record(data=b"00010xxxxx")
