"""MARCXML, MARC-in-JSON and MARCMaker readers: pymarc parity, sources, errors, hostile input."""

import io
import json
import os
import pathlib
import subprocess
import sys
import time
import xml.sax

import pytest

import marcpipe
from marcpipe.exceptions import (
    DTDSkipped,
    InputFormatError,
    PymarcException,
    RecordLeaderInvalid,
    RecordSyntaxError,
    SubfieldInvalid,
)

from conftest import ROOT

PYMARC = ROOT.parent / "shared" / "peers" / "pymarc-5.3.1"

LDR = "00000nam a2200000 a 4500"


def rec_xml(cn, title="T", prefix="", extra=""):
    p = prefix
    return (
        f"<{p}record{extra}><{p}leader>{LDR}</{p}leader>"
        f'<{p}controlfield tag="001">{cn}</{p}controlfield>'
        f'<{p}datafield tag="245" ind1="1" ind2="0"><{p}subfield code="a">{title}</{p}subfield>'
        f"</{p}datafield></{p}record>"
    )


def collection(*records):
    return '<collection xmlns="http://www.loc.gov/MARC21/slim">\n' + "\n".join(records) + "\n</collection>\n"


def pymarc_dump(code):
    """Runs code with the real pymarc 5.3.1 in a subprocess; returns its stdout as JSON."""
    if not PYMARC.is_dir():
        pytest.skip(f"SKIP: pymarc 5.3.1 not found at {PYMARC}")
    out = subprocess.run(
        [sys.executable, "-c", "import json, pymarc\n" + code],
        env={**os.environ, "PYTHONPATH": str(PYMARC)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


# ---- pymarc parity on pymarc's own files ------------------------------------------------


@pytest.mark.parametrize("name", ["batch.xml", "utf8.xml"])
def test_parse_xml_to_array_equals_pymarc(pymarc_dir, name):
    path = str(pymarc_dir / name)
    want = pymarc_dump(
        f"print(json.dumps([r.as_dict() for r in pymarc.parse_xml_to_array({path!r})]))"
    )
    got = [r.as_dict() for r in marcpipe.parse_xml_to_array(path)]
    assert got == want


@pytest.mark.parametrize("name", ["batch.json", "one.json", "test.json"])
def test_json_reader_equals_pymarc(pymarc_dir, name):
    path = str(pymarc_dir / name)
    want = pymarc_dump(
        f"print(json.dumps([r.as_dict() for r in pymarc.JSONReader(open({path!r}))]))"
    )
    with open(path) as fh:
        got = [r.as_dict() for r in marcpipe.JSONReader(fh)]
    assert got == want
    assert [r.as_dict() for r in marcpipe.parse_json_to_array(path)] == want


@pytest.mark.parametrize("name", ["test.dat", "marc.dat", "regression45.dat"])
def test_marcmaker_round_trip_equals_pymarc(pymarc_dir, name):
    path = str(pymarc_dir / name)
    texts = pymarc_dump(
        f"print(json.dumps([str(r) for r in pymarc.MARCReader(open({path!r}, 'rb')) if r]))"
    )
    mrk = "\n".join(texts)
    want = pymarc_dump(
        f"print(json.dumps([str(r) for r in pymarc.MARCMakerReader({mrk!r})]))"
    )
    got = [str(r) for r in marcpipe.MARCMakerReader(mrk)]
    assert got == want == texts


def test_parse_json_xml_agree(pymarc_dir):
    a = marcpipe.parse_json_to_array(str(pymarc_dir / "batch.json"))
    b = marcpipe.parse_xml_to_array(str(pymarc_dir / "batch.xml"))
    assert [r.as_marc() for r in a] == [r.as_marc() for r in b]


# ---- sources ----------------------------------------------------------------------------


def test_every_kind_of_source(tmp_path):
    doc = collection(rec_xml("1"), rec_xml("2", "caf\u00e9"))
    p = tmp_path / "c.xml"
    p.write_text(doc, encoding="utf-8")
    sources = [
        str(p),
        p,
        doc.encode(),
        bytearray(doc.encode()),
        memoryview(doc.encode()),
        io.BytesIO(doc.encode()),
        open(p, "rb"),
        open(p, encoding="utf-8"),
        io.StringIO(doc),
    ]
    for src in sources:
        recs = marcpipe.parse_xml_to_array(src)
        assert [r["001"].data for r in recs] == ["1", "2"], src
        assert recs[1]["245"]["a"] == "caf\u00e9"
        if hasattr(src, "close"):
            src.close()


def test_a_latin1_document_read_as_text_or_bytes(tmp_path):
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + collection(rec_xml("1", "caf\u00e9"))
    p = tmp_path / "l.xml"
    p.write_bytes(doc.encode("latin-1"))
    assert marcpipe.parse_xml_to_array(str(p))[0]["245"]["a"] == "caf\u00e9"
    with open(p, encoding="latin-1") as fh:  # decoded by Python: the declaration is rewritten
        assert marcpipe.parse_xml_to_array(fh)[0]["245"]["a"] == "caf\u00e9"


def test_json_and_marcmaker_take_their_text_or_a_path(tmp_path):
    one = {"leader": LDR, "fields": [{"001": "x"}]}
    assert next(iter(marcpipe.JSONReader(json.dumps(one))))["001"].data == "x"
    lines = "\n".join(json.dumps(one) for _ in range(3))
    assert len(list(marcpipe.JSONReader(lines))) == 3
    mrk = f"=LDR  {LDR}\n=001  x\n=245  10$aT\u00e9\n"
    p = tmp_path / "r.mrk"
    p.write_text(mrk, encoding="latin-1")
    recs = list(marcpipe.MARCMakerReader(str(p), encoding="latin-1"))
    assert recs[0]["245"]["a"] == "T\u00e9"
    recs = list(marcpipe.MARCMakerReader(mrk.encode()))
    assert recs[0]["245"].indicators == ("1", "0")


# ---- formats and their errors ------------------------------------------------------------


def test_marcreader_refuses_other_formats_with_one_clear_error(pymarc_dir):
    with marcpipe.MARCReader(str(pymarc_dir / "batch.xml")) as r:
        with pytest.raises(InputFormatError, match="looks like MARCXML"):
            next(r)
        assert list(r) == []
    with marcpipe.MARCXMLReader(str(pymarc_dir / "batch.xml")) as r:
        assert r.format is None
        assert len(list(r)) == 2
        assert r.format == "marcxml"
    with marcpipe.JSONReader(str(pymarc_dir / "batch.xml")) as r:
        with pytest.raises(InputFormatError, match="use format 'marcxml'"):
            next(r)


def test_bad_records_raise_and_the_stream_goes_on():
    doc = collection(
        rec_xml("1"),
        '<record><leader>short</leader></record>',
        "<record><leader>" + LDR + '</leader><datafield tag="245"><subfield>x</datafield></record>',
        rec_xml("4"),
    )
    with pytest.raises(RecordLeaderInvalid):
        marcpipe.parse_xml_to_array(doc.encode())
    got = marcpipe.parse_xml_to_array(doc.encode(), errors="skip")
    assert [r["001"].data for r in got] == ["1", "4"]
    reader = marcpipe.MARCXMLReader(doc.encode())
    assert next(reader)["001"].data == "1"
    with pytest.raises(RecordLeaderInvalid):
        next(reader)
    with pytest.raises(RecordSyntaxError) as info:
        next(reader)
    exc = info.value
    bad = ("<record><leader>" + LDR + "</leader><datafield").encode()
    assert exc.ordinal == 2 and exc.offset == doc.encode().index(bad)
    assert reader.current_chunk.startswith(b"<record><leader>") and reader.current_chunk.endswith(
        b"</record>"
    )
    assert next(reader)["001"].data == "4"
    reader.close()
    permissive = list(marcpipe.MARCXMLReader(doc.encode(), permissive=True))
    assert permissive[1] is None and permissive[2] is None and len(permissive) == 4
    with pytest.raises(ValueError):
        marcpipe.parse_xml_to_array(doc.encode(), errors="ignore-please")


def test_json_errors():
    lines = "\n".join(
        [
            json.dumps({"leader": LDR, "fields": [{"001": "a"}]}),
            '{"leader": "' + LDR + '", "fields": [{"245": {"subfields": [{"": "x"}]}}]}',
            '{"leader": "' + LDR + '", "fields": [}',
            json.dumps({"leader": LDR, "fields": [{"001": "d"}]}),
        ]
    )
    reader = marcpipe.JSONReader(lines)
    assert next(reader)["001"].data == "a"
    with pytest.raises(SubfieldInvalid):
        next(reader)
    with pytest.raises(RecordSyntaxError, match="invalid JSON"):
        next(reader)
    assert next(reader)["001"].data == "d"
    assert [r is None for r in marcpipe.JSONReader(lines, permissive=True)] == [
        False, True, True, False]
    assert len(marcpipe.parse_json_to_array(lines, errors="skip")) == 2


def test_readable_anomalies_are_warnings_and_strict_makes_them_errors(recwarn):
    doc = collection(
        "<record><leader>" + LDR + '</leader><datafield tag="245" ind1="" ind2="12">'
        '<subfield code="a">x</subfield></datafield></record>',
        rec_xml("2"),
    ).encode()
    first, second = list(marcpipe.MARCXMLReader(doc))
    assert first["245"].indicators == marcpipe.Indicators(" ", "1")
    assert [(w.kind, w.tag) for w in first.warnings] == [("INDICATOR", "245")] * 2
    assert "indicator 1 is empty" in first.warnings[0].message
    assert first.warnings[0].offset == doc.index(b"<record>")
    assert not second.warnings
    reader = marcpipe.MARCXMLReader(doc, strict=True)
    with pytest.raises(marcpipe.exceptions.IndicatorInvalid, match="indicator 1 is empty"):
        next(reader)
    assert next(reader)["001"].data == "2"
    reader.close()
    lines = '{"leader": "' + LDR + '", "fields": [{"245": {"ind1": "\\u0001", "subfields": []}}]}'
    (rec,) = list(marcpipe.JSONReader(lines))
    assert rec["245"].indicator1 == "\x01" and rec.warnings[0].kind == "INDICATOR"
    with pytest.raises(marcpipe.exceptions.IndicatorInvalid):
        next(marcpipe.JSONReader(lines, strict=True))
    (rec,) = list(marcpipe.MARCMakerReader(f"=LDR  {LDR}\n=245  1\n=500  \\\\$$ax$\n"))
    assert rec["245"].indicators == marcpipe.Indicators("1", " ")
    assert rec["500"].subfields == [marcpipe.Subfield("a", "x")]
    assert [w.kind for w in rec.warnings] == ["INDICATOR", "SUBFIELD", "SUBFIELD"]


def test_marcmaker_errors_are_pymarcs():
    reader = marcpipe.MARCMakerReader(f"=LDR  {LDR}\n=245 10$ax\n\n=LDR  {LDR}\n=001  ok\n")
    with pytest.raises(PymarcException, match=r'Unable to parse line "=245 10\$ax"'):
        next(reader)
    assert next(reader)["001"].data == "ok"


def test_oai_pmh_envelope():
    doc = (
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>'
        "<record><header><identifier>oai:1</identifier></header><metadata>"
        + rec_xml("1", prefix="marc:", extra=' xmlns:marc="http://www.loc.gov/MARC21/slim"')
        + "</metadata></record>"
        '<record><header status="deleted"><identifier>oai:2</identifier></header></record>'
        "<record><header><identifier>oai:3</identifier></header><metadata>"
        + rec_xml("3", extra=' xmlns="http://www.loc.gov/MARC21/slim"')
        + "</metadata></record></ListRecords></OAI-PMH>"
    )
    assert [r["001"].data for r in marcpipe.parse_xml_to_array(doc.encode())] == ["1", "3"]


def test_xxe_and_billion_laughs_expand_nothing():
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE c [\n'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">\n<!ENTITY a "aaaaaaaaaa">\n'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n'
        "]>\n" + collection(rec_xml("&xxe;"), rec_xml("&c;"), rec_xml("fine"))
    )
    t0 = time.monotonic()
    items = list(marcpipe.MARCXMLReader(doc.encode(), permissive=True))
    assert time.monotonic() - t0 < 2
    with marcpipe.MARCXMLReader(doc.encode()) as reader:
        with pytest.raises(DTDSkipped):
            next(reader)
        for _ in range(2):
            with pytest.raises(RecordSyntaxError, match="not defined"):
                next(reader)
        assert next(reader)["001"].data == "fine"
    assert [r is None for r in items] == [True, True, True, False]


def test_normalize_form_and_handlers(pymarc_dir, tmp_path):
    doc = collection(rec_xml("1", "Cafe\u0301"))
    nfc = marcpipe.parse_xml_to_array(doc.encode(), normalize_form="NFC")
    assert nfc[0]["245"]["a"] == "Caf\u00e9"
    with pytest.raises(ValueError):
        marcpipe.parse_xml_to_array(doc.encode(), normalize_form="NFX")

    class Titles(marcpipe.XmlHandler):
        def process_record(self, record):
            self.records.append(record["245"]["a"])

    h = Titles(normalize_form="NFD")
    marcpipe.parse_xml(io.BytesIO(collection(rec_xml("1", "Caf\u00e9")).encode()), h)
    assert h.records == ["Cafe\u0301"]

    class Counter(xml.sax.handler.ContentHandler):  # a plain SAX handler: xml.sax parses
        n = 0

        def startElementNS(self, name, qname, attrs):
            self.n += name[1] == "record"

    c = Counter()
    marcpipe.parse_xml(str(pymarc_dir / "batch.xml"), c)
    assert c.n == 2

    seen = []
    marcpipe.map_xml(seen.append, str(pymarc_dir / "batch.xml"), str(pymarc_dir / "batch.xml"))
    assert len(seen) == 4


def test_threads_pool_and_chunks_give_the_same_records(pymarc_dir):
    want = [r.as_dict() for r in marcpipe.parse_xml_to_array(str(pymarc_dir / "batch.xml"))]
    with marcpipe.Pool(2) as pool:
        for kw in ({"threads": 1}, {"threads": 4, "chunk_size": 1024}, {"pool": pool}):
            got = marcpipe.parse_xml_to_array(str(pymarc_dir / "batch.xml"), **kw)
            assert [r.as_dict() for r in got] == want


def test_realworld_formats_agree(corpus, tmp_path):
    """The realworld corpus as ISO 2709, and through yaz-marcdump as MARCXML and JSON."""
    mrc = corpus / "realworld" / "watson_mma_pubs_2025_04.mrc"
    if not mrc.is_file() or subprocess.run(["which", "yaz-marcdump"], capture_output=True).returncode:
        pytest.skip("SKIP: realworld corpus or yaz-marcdump absent")
    xml_path, json_path = tmp_path / "rw.xml", tmp_path / "rw.json"
    for fmt, p in (("marcxml", xml_path), ("json", json_path)):
        with open(p, "wb") as out:
            subprocess.run(["yaz-marcdump", "-o", fmt, str(mrc)], stdout=out, check=True)
    want = [r.as_marc() for r in marcpipe.MARCReader(str(mrc))]
    assert [r.as_marc() for r in marcpipe.parse_xml_to_array(xml_path)] == want
    assert [r.as_marc() for r in marcpipe.parse_json_to_array(str(json_path))] == want
