"""Byte ranges, splits and pickling in the Python binding.

The C suite (test/range_test.c) proves the composition property on every
corpus file and hostile mutants; here the binding's side of it: MARCReader's
range options and Split sources over every source kind, marcpipe.splits,
first_ordinal / units, and records that pickle and copy.
"""

import copy
import io
import os
import pickle
import random
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

import marcpipe
from marcpipe import Field, Indicators, Leader, MARCReader, Record, Split, Subfield
from conftest import make_record


def corpus_files(corpus):
    out = []
    for d, _, names in os.walk(corpus):
        out += [os.path.join(d, n) for n in sorted(names)
                if n.endswith((".mrc", ".marc", ".dat", ".usmarc", ".iso"))]
    return sorted(out)


def unit(reader, item):
    """Everything observable of one unit; [1] is its offset. (A damaged unit
    that pymarc's rules still read comes as a Record without a position of
    its own: the reader's current span gives it.)"""
    span = reader._current_span
    if item is None:
        e = reader.current_exception
        return ("bad", e.offset, type(e).__name__, e.kind, e.ordinal, e.length, e.message,
                e.control_number)
    return ("rec", span[0], span[1], item.offset, item.ordinal, str(item.leader),
            tuple(str(f) for f in item.fields))


def read_all(source, **kw):
    with MARCReader(source, threads=1, **kw) as r:
        items = [unit(r, x) for x in r]
        return items, r.units


def read_ranges(source, cuts, mk=lambda s: s, **kw):
    """Reads [0, c1), [c1, c2), ..., [ck, end) with chained first_ordinal."""
    out, first = [], 0
    bounds = [0] + list(cuts) + [None]
    for a, b in zip(bounds, bounds[1:]):
        items, units = read_all(mk(source), range_start=a, range_end=b, first_ordinal=first,
                                **kw)
        for it in items:
            assert it[1] >= a
            if b is not None:
                assert it[1] < b
        out += items
        first += units
    return out


def test_every_corpus_file_composes_over_random_cuts(corpus):
    rng = random.Random(1234)
    files = corpus_files(corpus)
    assert len(files) > 10
    for path in files:
        size = os.path.getsize(path)
        whole, units = read_all(path)
        assert units == len(whole)
        for parts in (2, 5, 17):
            cuts = sorted({rng.randrange(1, size) for _ in range(parts - 1)}) if size > 1 else []
            assert read_ranges(path, cuts) == whole, (path, cuts)
        # memory and file-object sources give the same
        with open(path, "rb") as f:
            data = f.read()
        cuts = sorted({rng.randrange(1, size) for _ in range(3)}) if size > 1 else []
        assert read_ranges(data, cuts) == whole, (path, cuts)
        assert read_ranges(path, cuts, mk=lambda p: open(p, "rb")) == whole


def test_splits_partition_and_compose(corpus):
    for path in corpus_files(corpus):
        whole, _ = read_all(path)
        size = os.path.getsize(path)
        starts = {u[1] for u in whole}
        for kw in ({"parts": 1}, {"parts": 4}, {"parts": 33}, {"blocksize": 4096}, {}):
            plan = marcpipe.splits(path, **kw)
            assert plan[0].start == 0 and plan[-1].end == size
            assert all(a.end == b.start for a, b in zip(plan, plan[1:]))
            assert all(s.path == path for s in plan)
            if "parts" in kw:
                assert len(plan) <= kw["parts"]
            with open(path, "rb") as f:
                data = f.read()
            for s in plan[1:]:
                # On an anchor (terminator + leader) a unit of the whole read
                # starts; a cut with no anchor within 1 MiB stays where it is.
                if data[s.start - 1] == 0x1D:
                    assert s.start in starts, (path, s)
            got, first = [], 0
            for s in plan:
                items, units = read_all(s, first_ordinal=first)
                got += items
                first += units
            assert got == whole, (path, kw)


def test_splits_of_sources_and_errors(tmp_path):
    data = b"".join(make_record([("001", None, "cn%d" % i),
                                 ("245", "10", [("a", "Title %d" % i)])]) for i in range(200))
    p = tmp_path / "x.mrc"
    p.write_bytes(data)
    by_path = marcpipe.splits(p, parts=5)
    assert [tuple(s)[1:] for s in by_path] == [tuple(s)[1:] for s in marcpipe.splits(data, parts=5)]
    assert all(s.path is None for s in marcpipe.splits(data, parts=5))
    with open(p, "rb") as f:
        assert marcpipe.splits(f, parts=5) == by_path
    with open(p, "rb") as f:
        f.read(10)
        off = marcpipe.splits(f, parts=5)
        assert off[-1].end == len(data) - 10 and off[0].path is None
    assert len(marcpipe.splits(p, blocksize="1KiB")) > 10
    assert len(marcpipe.splits(p)) == 1  # 64 MiB default
    with pytest.raises(ValueError):
        marcpipe.splits(p, parts=2, blocksize=100)
    with pytest.raises(ValueError):
        marcpipe.splits(p, parts=0)
    with pytest.raises(ValueError):
        marcpipe.splits(p, blocksize="lots")
    with pytest.raises(FileNotFoundError):
        marcpipe.splits(tmp_path / "missing.mrc")
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError):
            marcpipe.splits(os.fdopen(r, "rb", closefd=False), parts=2)
    finally:
        os.close(r)
        os.close(w)
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    assert marcpipe.splits(empty) == [Split(str(empty), 0, 0)]
    assert list(MARCReader(marcpipe.splits(empty)[0])) == []


def test_parse_bytes():
    assert marcpipe.parse_bytes("64MiB") == 64 << 20
    assert marcpipe.parse_bytes("100 MB") == 100_000_000
    assert marcpipe.parse_bytes("1e6") == 1_000_000
    assert marcpipe.parse_bytes(4096) == 4096
    for bad in ("", "12 parsecs", "-3", 0, "0"):
        with pytest.raises(ValueError):
            marcpipe.parse_bytes(bad)


def test_reader_range_options(tmp_path):
    recs = [make_record([("001", None, "cn%d" % i), ("245", "10", [("a", "T%d" % i)])])
            for i in range(10)]
    offs = [sum(len(r) for r in recs[:i]) for i in range(11)]
    data = b"".join(recs)
    p = tmp_path / "x.mrc"
    p.write_bytes(data)
    with MARCReader(p, range_start=offs[2], range_end=offs[5]) as r:
        got = list(r)
        assert r.units == 3
    assert [x["001"].data for x in got] == ["cn2", "cn3", "cn4"]
    assert [x.ordinal for x in got] == [0, 1, 2] and got[0].offset == offs[2]
    # one byte into a record: it belongs to the range before
    got = list(MARCReader(data, range_start=offs[2] + 1, range_end=offs[5] + 1,
                          first_ordinal=100))
    assert [x["001"].data for x in got] == ["cn3", "cn4", "cn5"]
    assert [x.ordinal for x in got] == [100, 101, 102]
    assert list(MARCReader(p, range_start=offs[3], range_end=offs[3])) == []
    assert list(MARCReader(p, range_start=0, range_end=0)) == []
    assert len(list(MARCReader(p, range_start=offs[8]))) == 2
    assert list(MARCReader(p, range_start=len(data) + 5)) == []
    # a stream that cannot seek (BytesIO: a callback source) reads from its start
    got = list(MARCReader(io.BytesIO(data), range_start=offs[7] - 3))
    assert [x["001"].data for x in got] == ["cn7", "cn8", "cn9"]
    # a Split as the source
    s = Split(str(p), offs[1], offs[2])
    assert [x["001"].data for x in MARCReader(s)] == ["cn1"]
    with pytest.raises(ValueError):
        MARCReader(s, range_start=0)
    with pytest.raises(ValueError):
        MARCReader(Split(None, 0, 10))
    with pytest.raises(ValueError):
        MARCReader(p, range_start=10, range_end=5)
    with pytest.raises(ValueError):
        MARCReader(p, range_start=-1)


def test_error_units_keep_their_place_across_ranges(tmp_path):
    good = [make_record([("001", None, "cn%d" % i), ("245", "10", [("a", "T")])])
            for i in range(6)]
    data = good[0] + b"junk junk\x1d" + good[1] + good[2][:40] + good[3] + good[4] + good[5][:-30]
    whole, n = read_all(data)
    assert sum(1 for u in whole if u[0] == "bad") >= 3
    for cut in range(1, len(data), 7):
        assert read_ranges(data, [cut]) == whole, cut


# ---- pickle / copy -----------------------------------------------------------------

def sample_records(corpus):
    recs = []
    for name, kw in (("realworld/watson_mma_pubs_2025_04.mrc", {}),
                     ("pymarc/marc8.dat", {}),
                     ("pymarc/test.dat", {"to_unicode": False}),
                     ("pymarc/test.dat", {"file_encoding": "cp1252"})):
        path = corpus / name
        if path.exists():
            with MARCReader(str(path), **kw) as r:
                recs += [x for x, _ in zip(r, range(300)) if x is not None]
    return recs


def fieldval(f):
    return (type(f), f.tag, f.control_field, f.data, f.indicators, list(f.subfields))


def same(a, b):
    return (str(a.leader) == str(b.leader) and [fieldval(f) for f in a.fields] ==
            [fieldval(f) for f in b.fields] and a.offset == b.offset and a.ordinal == b.ordinal
            and (not a.to_unicode or a.title == b.title) and a.to_unicode == b.to_unicode
            and a.force_utf8 == b.force_utf8 and type(a) is type(b))


def test_records_pickle_compactly(corpus):
    recs = sample_records(corpus)
    assert len(recs) > 300
    for r in recs:
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            assert same(pickle.loads(pickle.dumps(r, protocol=proto)), r)
    # Compact: one bytes block, no object per field, about the size of the record.
    r = sample_records(corpus)[0]  # untouched
    blob = pickle.dumps(r)
    assert b"Field" not in blob and b"Subfield" not in blob
    raw = r.as_marc()
    assert len(blob) < 2 * len(raw) + 400, (len(blob), len(raw))


def test_touched_and_edited_records_pickle_as_they_are(corpus):
    recs = sample_records(corpus)
    r = next(x for x in recs if "245" in x and x.to_unicode)
    f = r["245"]
    f.add_subfield("z", "added")
    r2 = pickle.loads(pickle.dumps(r))
    assert r2["245"]["z"] == "added" and same(r2, r)
    r.add_field(Field("999", Indicators("1", " "), [Subfield("a", "x"), Subfield("b", "y")]))
    r.leader.record_status = "d"
    r3 = pickle.loads(pickle.dumps(r))
    assert r3["999"]["b"] == "y" and r3.leader[5] == "d" and same(r3, r)
    # Record built by hand
    h = Record(fields=[Field("001", data="x1"), Field("245", Indicators("0", "0"),
                                                      [Subfield("a", "Hand")])])
    h2 = pickle.loads(pickle.dumps(h))
    assert h2.title == "Hand" and h2.offset is None and h2.ordinal is None


def test_copy_and_deepcopy(corpus):
    recs = sample_records(corpus)
    r = next(x for x in recs if "245" in x and x.to_unicode)
    c = copy.copy(r)
    d = copy.deepcopy(r)
    assert same(c, r) and same(d, r)
    d["245"].add_subfield("q", "only in d")
    assert "q" not in r["245"] and "q" not in c["245"]
    d.leader.record_status = "x"
    assert r.leader[5] != "x"
    f = copy.deepcopy(r["245"])
    assert f is not r["245"] and str(f) == str(r["245"])
    assert copy.copy(r.leader) is not r.leader and str(copy.copy(r.leader)) == str(r.leader)


def test_fields_subfields_leaders_pickle():
    f = Field("245", Indicators("1", "4"), [Subfield("a", "The title"), Subfield("c", "me")])
    g = pickle.loads(pickle.dumps(f))
    assert type(g) is Field and str(g) == str(f) and g.indicators == f.indicators
    assert g.subfields == f.subfields and all(type(s) is Subfield for s in g.subfields)
    c = pickle.loads(pickle.dumps(Field("008", data="850101s")))
    assert c.control_field and c.data == "850101s"
    assert pickle.loads(pickle.dumps(Subfield("a", "b"))) == Subfield("a", "b")
    ld = Leader("00000nam a2200000 a 4500")
    assert str(pickle.loads(pickle.dumps(ld))) == str(ld)
    assert b"__dict__" not in pickle.dumps(f) and len(pickle.dumps(f)) < 200
    rec = MARCReader(make_record([("245", "10", [("a", "Raw")])]), to_unicode=False)
    raw = next(iter(rec))["245"]
    assert type(raw) is marcpipe.RawField
    assert pickle.loads(pickle.dumps(raw)).subfields == raw.subfields


def test_corrupt_states_are_refused():
    r = next(iter(MARCReader(make_record([("001", None, "x"), ("245", "10", [("a", "T")])]))))
    cls, state = r.__reduce__()[1]
    st = list(state)
    st[1] = st[1] ^ 1  # another platform's layout
    with pytest.raises(ValueError):
        marcpipe._marcpipe._record_restore(cls, tuple(st))
    st = list(state)
    st[2] = st[2][:30]  # truncated blob
    with pytest.raises(ValueError):
        marcpipe._marcpipe._record_restore(cls, tuple(st))
    st = list(state)
    st[3] = 1000  # more fields than the blob holds
    with pytest.raises(ValueError):
        marcpipe._marcpipe._record_restore(cls, tuple(st))
    with pytest.raises(TypeError):
        marcpipe._marcpipe._record_restore(int, state)


def _titles(recs):
    return [r.title for r in recs]


def test_records_cross_process_boundaries(corpus):
    recs = sample_records(corpus)[:200]
    with ProcessPoolExecutor(max_workers=2) as ex:
        assert ex.submit(_titles, recs).result() == _titles(recs)


def test_import_marcpipe_does_not_import_dask():
    code = "import sys, marcpipe; assert 'dask' not in sys.modules, 'dask imported'; print('ok')"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
