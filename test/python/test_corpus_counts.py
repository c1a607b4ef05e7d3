"""C, CLI and Python give the same record, error and warning counts for every
corpus file (stages/FRAMING.md, "Checks": one table, three front ends).

The C side is test/tools/mpcounts (public API, shared library), the CLI is
`marcpipe count --json` (per_file), the Python side iterates MARCReader and
compares with its tally(). Python reads with pymarc's MARC-8 settings
(invalid MARC-8 is a warning, double diacritics as halves), so C and the CLI
are run with the same options for that comparison; C and the CLI are also
compared with the C defaults (invalid MARC-8 is an error).
"""

import json
import os
import pathlib
import subprocess
import warnings

import pytest

from marcpipe import MARCReader

EXTS = (".mrc", ".marc", ".dat", ".usmarc", ".iso")  # test/support/corpus.c's list
PYMARC_OPTS = ["--marc8-replace", "--marc8-double", "halves"]


def corpus_files(corpus):
    files = sorted(str(p) for p in pathlib.Path(corpus).rglob("*")
                   if p.is_file() and p.suffix in EXTS)
    assert len(files) > 100, files
    return files


def tools():
    cli, counts = os.environ.get("MP_CLI"), os.environ.get("MP_COUNTS")
    if not cli or not counts:
        pytest.skip("SKIP: MP_CLI / MP_COUNTS not set (run through ctest)")
    return cli, counts


def c_counts(counts, opts, files):
    p = subprocess.run([counts] + opts + files, stdout=subprocess.PIPE, check=True, timeout=600)
    return {o["file"]: o for o in map(json.loads, p.stdout.decode().splitlines())}


def cli_counts(cli, opts, files):
    p = subprocess.run([cli, "count", "--json", "-q"] + opts + files, stdout=subprocess.PIPE,
                       timeout=600)
    assert p.returncode in (0, 1), p.returncode
    return {f["file"]: f for f in json.loads(p.stdout)["per_file"]}


KEYS = ("records", "errors", "warnings", "records_with_warnings", "warnings_by_kind")


def same(a, b, what):
    assert set(a) == set(b), what
    for f in a:
        for k in KEYS:
            assert a[f][k] == b[f][k], (what, f, k, a[f][k], b[f][k])


def test_c_and_cli_agree_with_c_defaults(corpus):
    cli, counts = tools()
    files = corpus_files(corpus)
    same(c_counts(counts, [], files), cli_counts(cli, [], files), "C vs CLI, defaults")
    seq = c_counts(counts, ["--sequential"], files)
    same(c_counts(counts, [], files), seq, "C pipeline vs C sequential")


def test_c_cli_and_python_agree(corpus):
    cli, counts = tools()
    files = corpus_files(corpus)
    c = c_counts(counts, PYMARC_OPTS, files)
    same(c, cli_counts(cli, PYMARC_OPTS, files), "C vs CLI, pymarc options")
    py = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            r = MARCReader(f, threads=2, hide_utf8_warnings=True)
            got = {"records": 0, "errors": 0, "warnings": 0, "records_with_warnings": 0,
                   "warnings_by_kind": {}}
            for x in r:
                if x is None:
                    got["errors"] += 1
                    continue
                got["records"] += 1
                if x.warnings:
                    got["records_with_warnings"] += 1
                    for w in x.warnings:
                        got["warnings_by_kind"][w.kind] = got["warnings_by_kind"].get(w.kind, 0) + 1
            t = r.tally()
            r.close()
            # record.warnings keeps 32 per record; tally() counts all.
            got["warnings"] = t["warnings"]
            assert sum(got["warnings_by_kind"].values()) <= t["warnings"]
            if sum(got["warnings_by_kind"].values()) == t["warnings"]:
                assert got["warnings_by_kind"] == t["warnings_by_kind"], f
            got["warnings_by_kind"] = t["warnings_by_kind"]
            for k in ("records", "errors", "records_with_warnings"):
                assert got[k] == t[k], (f, k)
            py[f] = got
    same(c, py, "C vs Python")
    # The corpus does hold warned records and error items: the test compares something.
    assert sum(v["warnings"] for v in c.values()) > 0
    assert sum(v["errors"] for v in c.values()) > 0
