"""marcpipe.dask on a real engine: a dask.distributed LocalCluster with 2 worker
PROCESSES on this machine. Counting records, extracting 245 $a and 650 $a, and
counting bad units by kind over several files (damaged ones included, cut into
many partitions) must give exactly what single readers give.

Skips visibly without python3-dask / python3-distributed / python3-pandas.
"""

import collections
import os
import pathlib
import subprocess
import sys

import pytest

import marcpipe
from conftest import ROOT, make_record

dask = pytest.importorskip("dask", reason="SKIP: python3-dask not installed")
distributed = pytest.importorskip("distributed", reason="SKIP: python3-distributed not installed")
pd = pytest.importorskip("pandas", reason="SKIP: python3-pandas not installed")

import marcpipe.dask as md  # noqa: E402


def first_a(r):
    f = r.get("245")
    return f.get("a") if f is not None and not f.control_field else None


def subjects(r):
    return [a for f in r.get_fields("650") for a in f.get_subfields("a")]


def kind_of(e):
    return (e.kind, type(e).__name__)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Several files: the realworld corpus, damaged corpus files, and a
    generated file with junk, lying lengths and a truncated end."""
    corpus = pathlib.Path(os.environ.get("MARCPIPE_CORPUS", ROOT.parent / "shared" / "data"))
    if not corpus.is_dir():
        pytest.skip(f"SKIP: corpus not found at {corpus} (set MARCPIPE_CORPUS)")
    out = [str(corpus / n) for n in (
        "realworld/watson_mma_pubs_2025_04.mrc", "marc4j/bad_hathi_records.mrc",
        "marc4j/pride-and-prejudice-with-many-errors.mrc", "perl/camel_broken.mrc",
        "pymarc/bad_records.mrc", "pymarc/test.dat") if (corpus / n).exists()]
    recs = [make_record([("001", None, "g%d" % i), ("245", "10", [("a", "Gen %d" % i)]),
                         ("650", " 0", [("a", "Topic %d" % (i % 7))])]) for i in range(3000)]
    bad = bytearray(b"".join(recs))
    step = len(recs[0])
    for k in range(1, 40):
        at = k * 70 * step
        bad[at:at + 5] = b"99999" if k % 3 else b"00000"
    bad[50 * step:50 * step] = b"junk between records\r\n\x1d"
    gen = tmp_path_factory.mktemp("dask") / "generated.mrc"
    gen.write_bytes(bytes(bad[:-100]))
    out.append(str(gen))
    return out


@pytest.fixture(scope="module")
def single(files):
    """What one plain MARCReader per file yields."""
    titles, subs, kinds, n = [], collections.Counter(), collections.Counter(), 0
    for p in files:
        with marcpipe.MARCReader(p, threads=1) as r:
            for rec in r:
                if rec is None:
                    kinds[kind_of(r.current_exception)] += 1
                    continue
                n += 1
                titles.append(first_a(rec))
                subs.update(subjects(rec))
    return {"n": n, "titles": titles, "subjects": subs, "kinds": kinds}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_cluster_has_two_worker_processes(client):
    info = client.scheduler_info()["workers"]
    assert len(info) == 2
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_counts_titles_subjects_and_error_kinds_equal_single_readers(client, files, single):
    bag = md.read_marc(files, blocksize="256KiB")
    assert bag.npartitions > len(files) + 10  # files really are cut
    n, titles, subs = client.compute(
        [bag.count(), bag.map(first_a), bag.map(subjects).flatten().frequencies()], sync=True)
    assert n == single["n"]
    assert titles == single["titles"]  # same values, same order
    assert dict(subs) == dict(single["subjects"])
    errs = md.read_marc(files, blocksize="256KiB", errors="only")
    kinds = client.compute(errs.map(kind_of).frequencies(), sync=True)
    assert dict(kinds) == dict(single["kinds"])
    assert sum(single["kinds"].values()) > 50  # the damage is real


def test_records_travel_back_from_the_workers(client, files, single):
    bag = md.read_marc(files[:1], blocksize="512KiB")
    recs = client.compute(bag, sync=True)  # pickled in the workers, unpickled here
    assert [first_a(r) for r in recs] == single["titles"][:len(recs)]
    assert all(isinstance(r, marcpipe.Record) for r in recs)
    assert recs[5].offset is not None


def test_errors_include_keeps_file_order(client, files):
    bag = md.read_marc(files[-1], blocksize="64KiB", errors="include")
    got = client.compute(bag, sync=True)
    with marcpipe.MARCReader(files[-1]) as r:
        want = [x if x is not None else r.current_exception for x in r]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert type(g) is type(w)
        if isinstance(w, Exception):
            assert (g.offset, g.kind, g.path) == (w.offset, w.kind, files[-1])
        else:
            assert g.offset == w.offset and str(g) == str(w)


def test_to_dataframe(client, files, single):
    df = md.to_dataframe(files, {"id": "001", "title": "245a", "subjects": "650a*",
                                 "nfields": lambda r: len(r.fields)}, blocksize="256KiB")
    assert list(df.columns) == ["id", "title", "subjects", "nfields"]
    pdf = client.compute(df, sync=True)
    assert len(pdf) == single["n"]
    assert list(pdf["title"]) == single["titles"]
    assert collections.Counter(s for l in pdf["subjects"] for s in l) == single["subjects"]


def test_column_specs():
    rec = next(iter(marcpipe.MARCReader(make_record([
        ("001", None, "id1"), ("245", "10", [("a", "T"), ("b", "sub")]),
        ("650", " 0", [("a", "A"), ("x", "X")]), ("650", " 0", [("a", "B")])]))))
    assert md.column("001")(rec) == "id1"
    assert md.column("245a")(rec) == "T"
    assert md.column("245")(rec) == "T sub"
    assert md.column("650a*")(rec) == ["A", "B"]
    assert md.column("650*")(rec) == ["A X", "B"]
    assert md.column("700a")(rec) is None
    assert md.column("LDR")(rec) == str(rec.leader)
    with pytest.raises(ValueError):
        md.column("24")
    with pytest.raises(ValueError):
        md.read_marc(__file__, errors="sometimes")
    with pytest.raises(TypeError):
        md.read_marc(__file__, range_start=5)
    with pytest.raises(FileNotFoundError):
        md.read_marc("/nonexistent/*.mrc")


def test_example_dask_subjects(files, single):
    """examples/dask_subjects.py on its own 2-process local cluster."""
    env = dict(os.environ)
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "dask_subjects.py"),
                        "--workers", "2", "--blocksize", "256KiB", "--top", "10"] + files,
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [l.split("\t") for l in p.stdout.splitlines()]
    assert len(lines) == 10
    norm = collections.Counter()
    for s, c in single["subjects"].items():
        s = s.strip().rstrip(".,;:/ ").strip()
        if s:
            norm[s] += c
    want = norm.most_common(10)
    assert [int(c) for c, _ in lines] == [c for _, c in want]
    assert all(norm[h] == int(c) for c, h in lines)
    assert "%d records" % single["n"] in p.stderr
