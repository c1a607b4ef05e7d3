"""MARCReader: sources, pymarc behaviour on pymarc's own data, parity with the C reader."""

import io
import json
import os
import pathlib
import socket
import threading

import pytest

import marcpipe
from marcpipe import MARCReader, _marcpipe
from conftest import make_record

RECS = [make_record([("001", None, f"id{i}"), ("245", "00", [("a", f"Title {i}")])]) for i in range(50)]
DATA = b"".join(RECS)


def titles(reader):
    with reader:
        return [r.title if r is not None else None for r in reader]


EXPECTED = [f"Title {i}" for i in range(50)]


def test_sources_bytes_like():
    assert titles(MARCReader(DATA, threads=1, mode="pipeline")) == EXPECTED
    assert titles(MARCReader(bytearray(DATA), threads=2, mode="pipeline")) == EXPECTED
    assert titles(MARCReader(memoryview(DATA), threads=2, mode="pipeline")) == EXPECTED
    assert titles(MARCReader(DATA, mode="sequential")) == EXPECTED
    assert titles(MARCReader(DATA)) == EXPECTED
    import array
    assert titles(MARCReader(array.array("B", DATA))) == EXPECTED


def test_sources_path_and_files(tmp_path):
    p = tmp_path / "x.mrc"
    p.write_bytes(DATA)
    assert titles(MARCReader(str(p))) == EXPECTED
    assert titles(MARCReader(p)) == EXPECTED
    with open(p, "rb") as f:
        assert titles(MARCReader(f)) == EXPECTED
    with open(p, "rb") as f:  # buffered object that already read ahead: starts at tell()
        f.read(len(RECS[0]))
        assert titles(MARCReader(f)) == EXPECTED[1:]
    with open(p, "rb", buffering=0) as f:
        assert titles(MARCReader(f)) == EXPECTED
    assert titles(MARCReader(io.BytesIO(DATA), chunk_size=4096)) == EXPECTED


class ReadOnly:
    def __init__(self, data):
        self.b = io.BytesIO(data)

    def read(self, n=-1):
        return self.b.read(min(n, 100))


def test_sources_read_only_pipe_socket():
    assert titles(MARCReader(ReadOnly(DATA))) == EXPECTED
    rfd, wfd = os.pipe()

    def writer():
        with os.fdopen(wfd, "wb") as w:
            for r in RECS:
                w.write(r)
    t = threading.Thread(target=writer)
    t.start()
    assert titles(MARCReader(os.fdopen(rfd, "rb"))) == EXPECTED
    t.join()
    a, b = socket.socketpair()

    def sender():
        b.sendall(DATA)
        b.close()
    t = threading.Thread(target=sender)
    t.start()
    assert titles(MARCReader(a.makefile("rb"))) == EXPECTED
    t.join()
    a.close()


def test_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        MARCReader(str(tmp_path / "missing.mrc"))
    with pytest.raises(FileNotFoundError):
        MARCReader(tmp_path / "missing.mrc")
    p = tmp_path / "x.mrc"
    p.write_bytes(DATA)
    with open(p, "r") as f, pytest.raises(TypeError, match="binary"):
        MARCReader(f)
    with pytest.raises(TypeError, match="MARCReader source"):
        MARCReader(12345)
    with pytest.raises(TypeError):
        MARCReader(io.StringIO("x"))
    with pytest.raises(ValueError):
        MARCReader(DATA, utf8_handling="bogus")


def test_callback_exception_surfaces():
    class Boom:
        def read(self, n):
            raise ZeroDivisionError("boom")
    with pytest.raises(ZeroDivisionError):
        list(MARCReader(Boom()))


def test_bad_units_and_continuation():
    bad = b"00050xx" + b"x" * 43  # not a record
    trunc = RECS[1][:30]
    data = RECS[0] + bad + RECS[2] + trunc
    r = MARCReader(data, threads=2, mode="pipeline")
    out = [(x.title if x is not None else type(r.current_exception).__name__) for x in r]
    assert out[0] == "Title 0" and out[-1] == "TruncatedRecord"
    assert "Title 2" in out
    assert any(o in ("RecordLengthInvalid", "JunkSkipped", "EndOfRecordNotFound") for o in out[1:-1])
    # positions
    r = MARCReader(data)
    items = list(r)
    assert items[-1] is None
    e = r.current_exception
    assert isinstance(e, marcpipe.FatalReaderError) and isinstance(e, marcpipe.PymarcException)
    assert e.offset == len(data) - len(trunc) and e.ordinal == len(items) - 1
    assert r.current_chunk == trunc
    assert "byte" in str(e)


def test_strict_raises():
    data = RECS[0] + b"junkjunkjunk" + RECS[1]
    r = MARCReader(data, strict=True)
    assert next(r).title == "Title 0"
    with pytest.raises(marcpipe.PymarcException):
        next(r)


def test_utf8_handling():
    rec = make_record([("245", "00", [("a", "ok")]), ("500", "  ", [("a", "bad \udcff")])]) \
        if False else None
    good = make_record([("245", "00", [("a", "A-B")])])
    bad = good.replace(b"A-B", b"A\xffB")
    r = MARCReader(bad + good)
    items = list(r)
    assert items[0] is None and isinstance(items[1], marcpipe.Record)
    r = MARCReader(bad)
    next(r)
    assert isinstance(r.current_exception, UnicodeDecodeError)
    assert next(iter(MARCReader(bad, utf8_handling="replace"))).title == "A\ufffdB"
    assert next(iter(MARCReader(bad, utf8_handling="ignore"))).title == "AB"


# ---- pymarc's own test data --------------------------------------------------------------

def read_all(path, **kw):
    r = MARCReader(path, **kw)
    out = []
    for x in r:
        out.append((x, r.current_exception))
    r.close()
    return out


def test_pymarc_counts(pymarc_dir):
    assert sum(1 for x, _ in read_all(pymarc_dir / "test.dat") if x is not None) == 10
    assert sum(1 for x, _ in read_all(pymarc_dir / "marc.dat") if x is not None) == 20
    recs = [x for x, _ in read_all(pymarc_dir / "test.dat")]
    assert recs[0]["245"]["a"] == "ActivePerl with ASP and ADO /"
    assert all(str(r).startswith("=LDR") for r in recs)


def test_pymarc_json(pymarc_dir):
    # one.json renders test.dat's first record (leader/09 blank); one.dat is the
    # same record with leader/09 'a'.
    one = json.loads((pymarc_dir / "one.json").read_text(), strict=False)
    one = one[0] if isinstance(one, list) else one
    first = read_all(pymarc_dir / "test.dat")[0][0]
    assert first.as_dict() == one
    other = read_all(pymarc_dir / "one.dat")[0][0].as_dict()
    assert other["fields"] == one["fields"] and other["leader"][9] == "a"
    for name in ("test.json", "batch.json"):
        exp = json.loads((pymarc_dir / name).read_text(), strict=False)
        exp = exp if isinstance(exp, list) else [exp]
        # These renderings have no .dat twin in the corpus: build records from the JSON,
        # write them, read them back, and compare.
        blob = b""
        for d in exp:
            rec = marcpipe.Record(leader=d["leader"])
            rec.leader = marcpipe.Leader(d["leader"])
            for f in d["fields"]:
                (tag, v), = f.items()
                if isinstance(v, dict):
                    subs = [marcpipe.Subfield(*next(iter(s.items()))) for s in v["subfields"]]
                    rec.add_field(marcpipe.Field(tag, marcpipe.Indicators(v["ind1"], v["ind2"]), subs))
                else:
                    rec.add_field(marcpipe.Field(tag, data=v))
            blob += rec.as_marc()
        got = [x.as_dict() for x, _ in read_all(blob)]
        for g, e in zip(got, exp):
            assert g["fields"] == e["fields"]
            assert g["leader"][5:12] == e["leader"][5:9] + "a" + e["leader"][10:12]
        assert len(got) == len(exp)


def test_pymarc_bad_subfield_indicator_regression(pymarc_dir):
    (r, e), = [x for x in read_all(pymarc_dir / "bad_subfield_code.dat")]
    assert r["245"]["a"] == "ActivePerl with ASP and ADO /" and e is None
    r = read_all(pymarc_dir / "bad_indicator.dat")[0][0]
    assert r["245"]["a"] == "Aristocrats of color :"
    r = read_all(pymarc_dir / "regression45.dat")[0][0]
    assert (r["752"]["a"], r["752"]["b"], r["752"]["d"]) == ("Russian Federation", "Kostroma Oblast", "Kostroma")


def test_pymarc_bad_records(pymarc_dir):
    items = read_all(pymarc_dir / "bad_records.mrc")
    first, *_ = items
    assert first[0]["245"]["a"] == "The pragmatic programmer : "
    kinds = [type(e) for x, e in items]
    assert kinds[1] is marcpipe.BaseAddressInvalid
    assert kinds[2] is marcpipe.BaseAddressNotFound
    assert kinds[3] is marcpipe.RecordDirectoryInvalid
    assert issubclass(kinds[4], UnicodeDecodeError)
    assert issubclass(kinds[5], marcpipe.PymarcException)
    # the good record after the bad ones still comes
    good = [x for x, _ in items[1:] if x is not None and x.get("245") is not None]
    assert good and good[-1]["245"]["b"] == "from journeyman to master /"


def test_pymarc_encodings(pymarc_dir):
    r = read_all(pymarc_dir / "marc8.dat")[0][0]
    assert r["240"]["a"] == "De la solitude \xe0 la communaut\xe9."
    r = read_all(pymarc_dir / "marc8.dat", to_unicode=False)[0][0]
    assert r["240"]["a"] == b"De la solitude \xe1a la communaut\xe2e."
    r = read_all(pymarc_dir / "utf8_with_leader_flag.dat")[0][0]
    assert r["240"]["a"] == "De la solitude a\u0300 la communaute\u0301."
    r = read_all(pymarc_dir / "utf8_without_leader_flag.dat", force_utf8=True)[0][0]
    assert r["240"]["a"] == "De la solitude a\u0300 la communaute\u0301."
    r = read_all(pymarc_dir / "1251.dat", file_encoding="cp1251")[0][0]
    assert r["245"]["a"] == "Основы гидравлического расчета инженерных сетей"
    # A U+FFFD as subfield code: pymarc 5.3.1 reads the record, with a
    # BadSubfieldCodeWarning, taking the next ASCII letter as the code.
    with pytest.warns(marcpipe.BadSubfieldCodeWarning):
        x, e = read_all(pymarc_dir / "utf8_invalid.mrc")[0]
    assert e is None and x["260"]["b"] == "bAssociation of Teacher Educators]"
    (w,) = x.warnings
    assert (w.kind, w.tag, w.subfield, w.ordinal) == ("SUBFIELD", "260", "b", 0)


def test_parity_with_c_reader(corpus):
    """Every file: our items (record/None, ordinal, offset) equal the C sequential reader's."""
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".mrc", ".dat", ".marc", ".usmarc"))
    assert files
    for p in files:
        c_items, rc = _marcpipe._scan(str(p), sequential=True)
        py = []
        r = MARCReader(p, threads=2, mode="pipeline")
        for x in r:
            if x is not None and x.ordinal is not None:
                py.append(("record", x.ordinal, x.offset))
            elif x is not None:  # decoded by the pymarc fallback
                py.append(("record", r.current_exception, r._current_span[0]))
            else:
                e = r.current_exception
                py.append(("error", e.ordinal, e.offset))
        r.close()
        assert len(py) == len(c_items), p
        for a, b in zip(py, c_items):
            assert a[2] == b[2], (p, a, b)
            if a[0] == "record" and a[1] is not None:
                assert a[1] == b[1], (p, a, b)


def test_mode_auto_pipeline_sequential():
    """mode: "auto" reads small inputs sequentially, large ones through the
    pipeline (given two usable CPUs); stats() says which path ran and why."""
    with MARCReader(DATA) as r:
        assert [x.title for x in r] == EXPECTED
        st = r.stats()
        assert (st["mode"], st["mode_reason"]) == ("sequential", "small_input")
        assert st["workers"] == 0
    with MARCReader(DATA, mode="pipeline", threads=2) as r:
        assert [x.title for x in r] == EXPECTED
        st = r.stats()
        assert (st["mode"], st["mode_reason"], st["workers"]) == ("pipeline", "requested", 2)
        assert st["parser"]["items"] >= 1
        assert isinstance(st["worker_standbys"], int)  # steps left to the reader's thread
    with MARCReader(DATA, mode="sequential") as r:
        next(r)
        assert (r.stats()["mode"], r.stats()["mode_reason"]) == ("sequential", "requested")
    big = DATA * ((1 << 20) // len(DATA) + 1)
    with MARCReader(big) as r:
        assert sum(1 for _ in r) == 50 * ((1 << 20) // len(DATA) + 1)
        st = r.stats()
        if len(os.sched_getaffinity(0)) >= 2:
            assert (st["mode"], st["mode_reason"]) == ("pipeline", "large_input")
        else:
            assert (st["mode"], st["mode_reason"]) == ("sequential", "one_cpu")
    with pytest.raises(ValueError):
        MARCReader(DATA, mode="parallel")
