#!/usr/bin/python3
"""Tests of the `marcpipe` command-line tool. One CTest test per case:

    cli_test.py CASE CLI SAMPLE

Golden files live in test/cli/golden/ (regenerate with
`cli_test.py regenerate CLI SAMPLE` after checking the differences by hand).
Exit status 0 pass, 1 fail, 77 skip (printed as "SKIP: ...").
"""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(HERE, "golden")
sys.path.insert(0, HERE)
import marcfile  # noqa: E402

TIMEOUT = 120
CLI = SAMPLE = None


def run(args, stdin=None, input=None, env=None):
    p = subprocess.run([CLI] + args, stdin=stdin, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def check(cond, what, *context):
    if not cond:
        print("FAIL:", what)
        for c in context:
            print("  ", repr(c)[:3000])
        sys.exit(1)


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def golden(name):
    with open(os.path.join(GOLDEN, name), "rb") as f:
        return f.read()


def good_count():
    return sum(1 for r in marcfile.read(SAMPLE) if not r.damaged)


def clean_file(tmp, n=40):
    """The first n records of the sample: well-formed, one of them MARC-8."""
    recs = marcfile.read(SAMPLE)
    assert all(not r.damaged for r in recs[:n])
    path = os.path.join(tmp, "clean.mrc")
    with open(path, "wb") as f:
        f.write(b"".join(r.raw for r in recs[:n]))
    return path


# ---- golden outputs -----------------------------------------------------------

def t_golden_dump():
    rc, out, err = run(["dump", SAMPLE])
    check(rc == 1, "dump of the sample exits 1 (one damaged record)", rc, err)
    check(out == golden("sample.dump"), "dump equals golden/sample.dump", out[:400])
    check("mp000060" in err and "offset" in err, "error item on stderr names 001 and offset",
          err)
    check(len(err.strip().splitlines()) == 1, "exactly one error item", err)


def t_golden_count():
    rc, out, err = run(["count", SAMPLE])
    check(rc == 1, "count exits 1", rc, err)
    check(out == golden("sample.count"), "count equals golden/sample.count", out)
    check(int(out) == good_count(), "count equals the independent count", out)


def t_dump_variants():
    """Every reader configuration gives the same records (order restored)."""
    gold = golden("sample.dump")
    # The sample is small: without --pipeline the library reads it sequentially.
    for args in ([], ["--pipeline", "--threads", "1"],
                 ["--pipeline", "--threads", "4", "--chunk-size", "4K"],
                 ["--pipeline", "--chunk-size", "1K", "--chunks", "4"], ["--sequential"],
                 ["--pipeline", "--threads", "3", "--chunk-size", "2k",
                  "--max-record-size", "64K"]):
        rc, out, err = run(["dump"] + args + [SAMPLE])
        check(rc == 1 and out == gold, "dump %s equals golden" % " ".join(args), rc, err)
    rc, out, err = run(["dump", "--pipeline", "--unordered", "--threads", "3", "--chunk-size",
                        "2K", SAMPLE])
    recs = sorted(out.split(b"\n\n"))
    check(recs == sorted(gold.split(b"\n\n")), "--unordered delivers the same records", err)


def t_dump_vs_yaz():
    yaz = shutil.which("yaz-marcdump")
    if yaz is None:
        skip("yaz-marcdump not installed")
    rc, out, err = run(["dump", SAMPLE])
    p = subprocess.run([yaz, "-o", "line", SAMPLE], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=TIMEOUT)

    def records(blob):
        out = {}
        for rec in blob.decode("utf-8", "replace").split("\n\n"):
            m = re.search(r"^001 (\S+)", rec, re.M)
            if m:
                out[m.group(1)] = rec.strip("\n")
        return out
    ours, theirs = records(out), records(p.stdout)
    # mp000030 is MARC-8 (yaz without -f marc8 prints the raw bytes; marcpipe
    # converts to UTF-8) and mp000060 is the damaged record.
    same = [k for k in ours if k not in ("mp000030", "mp000060")]
    check(len(same) == good_count() - 1, "records compared", len(same))
    for k in same:
        check(ours[k] == theirs.get(k), "dump of %s equals yaz-marcdump -o line" % k,
              ours[k], theirs.get(k))
    # The MARC-8 record equals yaz's conversion.
    p = subprocess.run([yaz, "-f", "marc8", "-t", "utf8", "-o", "line", SAMPLE],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    theirs = records(p.stdout)
    # yaz sets leader/09 to 'a' after converting; compare the fields only.
    # yaz leaves combining marks decomposed (NFD); marcpipe normalises to NFC
    # by default, so compare both in NFC.
    o = unicodedata.normalize("NFC", ours["mp000030"].split("\n", 1)[1])
    t = unicodedata.normalize("NFC", theirs["mp000030"].split("\n", 1)[1])
    check(o == t, "MARC-8 record equals yaz-marcdump -f marc8 -t utf8 (NFC)", o, t)
    check("Dvořák" in ours["mp000030"], "marcpipe output is NFC already")


def t_dump_json():
    rc, out, err = run(["dump", "--json", SAMPLE])
    lines = out.decode().splitlines()
    check(len(lines) == good_count(), "one JSON object per good record", len(lines))
    objs = [json.loads(line) for line in lines]
    check(objs[0]["leader"] == marcfile.read(SAMPLE)[0].leader, "leader", objs[0]["leader"])
    f245 = [f["245"] for f in objs[0]["fields"] if "245" in f][0]
    check(f245["ind1"] == "1" and f245["subfields"][0]["a"].startswith("Reading records"),
          "MARC-in-JSON 245", f245)
    m8 = [o for o in objs if {"001": "mp000030"} in o["fields"]][0]
    f100 = [f["100"] for f in m8["fields"] if "100" in f][0]
    check(f100["subfields"][0]["a"] == "Dvořák, Antonín,", "MARC-8 converted and NFC",
          f100)


# ---- exit codes, options ------------------------------------------------------

def t_exit_codes():
    with tempfile.TemporaryDirectory() as tmp:
        clean = clean_file(tmp)
        rc, out, err = run(["count", clean])
        check(rc == 0 and out == b"40\n" and err == "", "clean file: exit 0, no stderr", rc,
              out, err)
        rc, out, err = run(["stats", SAMPLE])
        check(rc == 1, "damaged record: exit 1", rc, err)
        rc, out, err = run(["count", os.path.join(tmp, "missing.mrc")])
        check(rc == 2 and "missing.mrc" in err, "missing file: exit 2 with its name", rc, err)
        rc, out, err = run(["count", clean, os.path.join(tmp, "missing.mrc"), clean])
        check(rc == 2 and out == b"80\n", "missing among good files: others still counted",
              rc, out, err)
        rc, out, err = run(["count", tmp])
        check(rc == 2, "a directory: exit 2", rc, err)
        truncated = os.path.join(tmp, "truncated.mrc")
        with open(clean, "rb") as f:
            data = f.read()
        with open(truncated, "wb") as f:
            f.write(data[:-100])
        rc, out, err = run(["count", truncated])
        check(rc == 1 and out == b"39\n" and "TRUNCATED" in err,
              "truncated last record: exit 1, TRUNCATED item", rc, out, err)
        empty = os.path.join(tmp, "empty.mrc")
        open(empty, "wb").close()
        rc, out, err = run(["count", empty])
        check(rc == 0 and out == b"0\n", "empty file: 0 records, exit 0", rc, out, err)
    for bad in (["count"], ["frobnicate", SAMPLE], ["count", "--bogus", SAMPLE],
                ["count", "--threads", "many", SAMPLE], ["count", "--policy", "maybe", SAMPLE],
                ["count", "--chunk-size", "12Q", SAMPLE], ["count", "--encoding", "ebcdic",
                                                             SAMPLE],
                ["count", "--utf8", "lax", SAMPLE], ["count", "-", "-"], [],
                ["count", "--marc8-double", "both", SAMPLE], ["count", "--errors-json", "",
                                                              SAMPLE]):
        rc, out, err = run(bad)
        check(rc == 2 and "--help" in err, "usage error exits 2 and points at --help: %s" % bad,
              rc, err)


def t_help():
    rc, out, err = run(["--help"])
    text = out.decode()
    check(rc == 0 and err == "", "--help exits 0", rc, err)
    with open(os.path.join(ROOT, "stages", "cli", "main.c")) as f:
        src = f.read()
    table = src[src.index("long_options[]"):]
    table = table[:table.index("{NULL, 0, NULL, 0}")]
    opts = re.findall(r'\{"([a-z0-9-]+)",', table)
    check(len(opts) >= 15, "option table parsed", opts)
    for want in ("threads", "policy", "max-errors", "encoding", "utf8", "no-normalize",
                 "chunk-size", "max-record-size", "unordered", "json", "sequential", "quiet",
                 "version", "help", "strict", "marc8-double", "errors-json"):
        check(want in opts, "option --%s exists" % want, opts)
    for o in opts:
        check("--" + o in text, "--help mentions --%s" % o, text)
    for word in ("Usage:", "count", "dump", "stats", "Exit status", "Examples", "'-'"):
        check(word in text, "--help mentions %s" % word)
    rc2, out2, _ = run(["stats", "-h"])
    check(rc2 == 0 and out2 == out, "-h after a command")
    rc, out, err = run(["--version"])
    check(rc == 0 and re.match(rb"^marcpipe \d+\.\d+\.\d+\n$", out), "--version", out)


def t_json():
    for cmd in ("count", "stats"):
        rc, out, err = run([cmd, "--json", SAMPLE])
        obj = json.loads(out)
        for k in ("records", "errors", "bytes", "seconds", "errors_by_kind", "files"):
            check(k in obj, "%s --json has %s" % (cmd, k), obj)
        check(obj["records"] == good_count() and obj["errors"] == 1, "values", obj)
        check(obj["bytes"] == os.path.getsize(SAMPLE), "bytes = file size", obj)
        check(sum(obj["errors_by_kind"].values()) == 1, "errors_by_kind sums to errors", obj)
        check(obj["exit_code"] == rc == 1, "exit_code field", obj, rc)
    rc, out, err = run(["stats", "--json", "-v", "--pipeline", SAMPLE])
    obj = json.loads(out)
    check("stages" in obj and obj["stages"]["parser"]["items"] > 0, "-v adds stages", obj)
    check(obj["reader"] == "pipeline" and obj["files_pipeline"] == 1, "--pipeline", obj)
    # The default (MP_MODE_AUTO) reads a file under 1 MiB sequentially, without threads.
    rc, out, err = run(["stats", "--json", "-v", SAMPLE])
    obj = json.loads(out)
    check(obj["reader"] == "sequential" and obj["files_sequential"] == 1 and
          obj["records"] == good_count() and "stages" not in obj, "auto: small file", obj)
    rc, out, err = run(["stats", "--json", "--sequential", SAMPLE])
    obj = json.loads(out)
    check(obj["reader"] == "sequential" and obj["records"] == good_count(), "sequential", obj)
    # A file of 1 MiB or more runs the pipeline (given two usable CPUs); with a
    # small file beside it the run is "mixed" and both counts add up.
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.mrc")
        data = open(SAMPLE, "rb").read()
        copies = (1 << 20) // len(data) + 1
        with open(big, "wb") as f:
            f.write(data * copies)
        rc, out, err = run(["stats", "--json", big, SAMPLE])
        obj = json.loads(out)
        cpus = len(os.sched_getaffinity(0))
        want = "mixed" if cpus >= 2 else "sequential"
        check(obj["reader"] == want and obj["records"] == good_count() * (copies + 1),
              "auto: big + small file -> %s" % want, obj)


def t_stats_text():
    rc, out, err = run(["stats", "-v", "--pipeline", "--threads", "2", SAMPLE])
    text = out.decode()
    for word in ("records      %d" % good_count(), "errors       1", "bytes", "seconds",
                 "MB/s", "records/s", "producer", "scanner", "parser", "consumer"):
        check(word in text, "stats text has %r" % word, text)


def t_stdin():
    with open(SAMPLE, "rb") as f:
        rc, out, err = run(["count", "-"], stdin=f)
    check(rc == 1 and out == golden("sample.count"), "count - (file on stdin)", rc, out, err)
    with open(SAMPLE, "rb") as f:
        data = f.read()
    # A real pipe (not a seekable file) through a shell.
    p = subprocess.run(["sh", "-c", 'cat "$1" | "$2" dump -', "sh", SAMPLE, CLI],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    check(p.returncode == 1 and p.stdout == golden("sample.dump"), "dump - from a pipe",
          p.returncode, p.stderr)
    check("<stdin>" in p.stderr.decode(), "stdin is named <stdin> in error items", p.stderr)
    rc, out, err = run(["count", SAMPLE, "-", SAMPLE], input=data)
    check(out == b"%d\n" % (3 * good_count()), "files and stdin mixed", out, err)


def t_policies():
    n = good_count()
    rc, out, err = run(["count", "--policy", "stop", SAMPLE])
    check(rc == 1 and int(out) == 59 and "stopped" in err,
          "--policy stop ends at the damaged record (59 good records before it)", rc, out, err)
    rc, out, err = run(["count", "--policy", "skip", SAMPLE])
    check(rc == 1 and int(out) == n and err == "", "--policy skip: silent, exit 1", rc, out,
          err)
    rc, out, err = run(["count", "--json", "--policy", "skip", SAMPLE])
    check(json.loads(out)["errors"] == 1, "--policy skip still counts", out)
    rc, out, err = run(["count", "--quiet", SAMPLE])
    check(rc == 1 and err == "" and int(out) == n, "--quiet", rc, err)
    rc, out, err = run(["count", "--max-errors", "1", SAMPLE, SAMPLE])
    check(rc == 1 and int(out) < 2 * n, "--max-errors 1 over two files ends the run", rc, out,
          err)
    rc, out, err = run(["count", "--encoding", "raw", SAMPLE])
    check(int(out) == n, "--encoding raw still frames and parses", out, err)
    for enc in ("utf8", "marc8", "auto"):
        for u in ("strict", "replace", "ignore"):
            rc, out, err = run(["count", "--encoding", enc, "--utf8", u, "--no-normalize",
                                SAMPLE])
            check(rc in (0, 1) and int(out) > 0, "--encoding %s --utf8 %s" % (enc, u), rc, err)


def t_corpus_smoke():
    corpus = os.environ.get("MARCPIPE_CORPUS", os.path.join(ROOT, "..", "shared", "data"))
    if not os.path.isdir(corpus):
        skip("corpus %s not found (set MARCPIPE_CORPUS)" % corpus)
    files = []
    for d, _, names in os.walk(corpus):
        files += [os.path.join(d, n) for n in names
                  if n.endswith((".mrc", ".marc", ".dat", ".usmarc"))]
    rc, out, err = run(["stats", "--json", "--quiet"] + sorted(files))
    obj = json.loads(out)
    check(rc in (0, 1), "the whole corpus reads without I/O failures", rc, err)
    check(obj["files"] == len(files) and obj["records"] > 4000, "corpus stats", obj)


# ---- reliability (issue #16, item 9) -----------------------------------------------

def t_reliability():
    with tempfile.TemporaryDirectory() as tmp:
        clean = clean_file(tmp)
        # --max-record-size: what the help says is what the library takes.
        for bad in ("24", "63", "4G", "4294967296"):
            rc, out, err = run(["count", "--max-record-size", bad, clean])
            check(rc == 2 and "64 to 4294967295" in err and clean not in err,
                  "--max-record-size %s: a usage error naming the range, not the file" % bad,
                  rc, err)
        for good in ("64", "4294967295", "99999"):
            rc, out, err = run(["count", "--quiet", "--max-record-size", good, clean])
            check(rc in (0, 1) and out.strip().isdigit(), "--max-record-size %s accepted" % good,
                  rc, out, err)
        rc, out, err = run(["--help"])
        check(b"4294967295" in out, "--help states the range", out[-2000:])
        # --max-errors N: N items reported and counted, no SKIPPED kind without --policy skip.
        recs = marcfile.read(SAMPLE)
        damaged = os.path.join(tmp, "damaged.mrc")
        with open(damaged, "wb") as f:
            for r in recs[:30]:
                f.write(b"junk\x1d" + r.raw)  # 30 JUNK items between good records
        for n in (1, 2, 7):
            rc, out, err = run(["stats", "--json", "--max-errors", str(n), damaged])
            obj = json.loads(out)
            check(rc == 1 and obj["errors"] == n and obj["stopped"],
                  "--max-errors %d: %d errors counted, run stopped" % (n, n), obj, err)
            check(set(obj["errors_by_kind"]) == {"JUNK"} and obj["errors_by_kind"]["JUNK"] == n,
                  "--max-errors %d: only the reported kind, no SKIPPED" % n, obj)
            check(err.count("JUNK") == n and "error cap reached" in err,
                  "--max-errors %d: %d items on stderr, then the cap" % (n, n), err)
        rc, out, err = run(["stats", "--json", "--policy", "skip", "--max-errors", "3", damaged])
        obj = json.loads(out)
        check(obj["errors"] == 3 and obj["errors_by_kind"].get("SKIPPED") == 3,
              "--policy skip --max-errors 3: 3 skipped and counted", obj)
        # A directory and an I/O error: one clear message each.
        rc, out, err = run(["count", tmp])
        check(rc == 2 and "is a directory" in err, "a directory says so", rc, err)
        d = os.open(tmp, os.O_RDONLY)  # standard input is a directory: said at open
        try:
            rc, out, err = run(["count", "-"], stdin=d)
        finally:
            os.close(d)
        check(rc == 2 and err.count("is a directory") == 1, "a directory on stdin says so", rc,
              err)
        d = os.open(os.path.join(tmp, "w"), os.O_WRONLY | os.O_CREAT)  # read() fails: EBADF
        try:
            rc, out, err = run(["count", "-"], stdin=d)
        finally:
            os.close(d)
        check(rc == 2 and err.count("input/output error") == 1 and "offset 0" in err,
              "an I/O failure is reported once, with its offset", rc, err)
    # dump into a full device stops reading at once instead of draining its input.
    if not os.path.exists("/dev/full"):
        skip("no /dev/full")
    data = b"".join(r.raw for r in marcfile.read(SAMPLE) if not r.damaged)
    total = 0
    with open("/dev/full", "wb") as full:
        p = subprocess.Popen([CLI, "dump", "-"], stdin=subprocess.PIPE, stdout=full,
                             stderr=subprocess.PIPE)
        try:
            while total < 64 * 1024 * 1024:
                p.stdin.write(data)
                total += len(data)
        except BrokenPipeError:
            pass
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        err = p.stderr.read().decode("utf-8", "replace")
        rc = p.wait(timeout=TIMEOUT)
    check(rc == 2 and "cannot write" in err and "No space left" in err,
          "dump > /dev/full: exit 2, says why", rc, err)
    check(total < 32 * 1024 * 1024,
          "dump > /dev/full stopped reading early (%d bytes taken of 64 MiB)" % total, err)

# ---- byte ranges: split and --range ---------------------------------------------

def ranges_sum_to_whole(path, plan_args, extra=()):
    """count --range over every range of `split` adds up to the whole count:
    records, errors by kind and bytes."""
    rc, out, err = run(["split"] + plan_args + [path])
    check(rc == 0, "split %s exits 0" % path, rc, err)
    plan = json.loads(out)
    size = os.path.getsize(path)
    check(plan["file"] == path and plan["size"] == size, "split names file and size", plan)
    rs = plan["ranges"]
    check(rs[0]["start"] == 0 and rs[-1]["end"] == size and
          all(a["end"] == b["start"] for a, b in zip(rs, rs[1:])),
          "the ranges partition the file", rs)
    _, out, _ = run(["count", "--json", "--quiet"] + list(extra) + [path])
    whole = json.loads(out)
    records, errors, nbytes, kinds = 0, 0, 0, {}
    for r in rs:
        _, out, err = run(["count", "--json", "--quiet", "--range",
                           "%d:%d" % (r["start"], r["end"])] + list(extra) + [path])
        part = json.loads(out)
        records += part["records"]
        errors += part["errors"]
        nbytes += part["bytes"]
        for k, v in part["errors_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
    check((records, errors, nbytes, kinds) ==
          (whole["records"], whole["errors"], whole["bytes"], whole["errors_by_kind"]),
          "%s: the ranges' counts sum to the whole count" % path,
          (records, errors, nbytes, kinds), whole)
    return len(rs)


def t_split_range():
    n = ranges_sum_to_whole(SAMPLE, ["--parts", "4"])
    check(n == 4, "4 parts of the sample", n)
    ranges_sum_to_whole(SAMPLE, ["--parts", "7"], ["--sequential"])
    ranges_sum_to_whole(SAMPLE, ["--target-size", "10K"])
    # Each planned range after the first starts on a record of the whole read.
    rc, out, err = run(["split", "--parts", "5", SAMPLE])
    starts = {r.offset for r in marcfile.read(SAMPLE)}
    for r in json.loads(out)["ranges"]:
        check(r["start"] in starts, "range starts on a record", r)
    # Arbitrary cuts compose too (inside records): 3 ranges by hand.
    size = os.path.getsize(SAMPLE)
    total = 0
    for a, b in ((0, 1000), (1000, size // 2 + 7), (size // 2 + 7, None)):
        _, out, _ = run(["count", "--range", "%d:%s" % (a, "" if b is None else b), SAMPLE])
        total += int(out)
    check(total == good_count(), "hand-made cuts add up", total)
    # Two files: one JSON line each; stdin from a file works, a pipe does not.
    rc, out, err = run(["split", "--parts", "2", SAMPLE, SAMPLE])
    check(rc == 0 and len(out.splitlines()) == 2, "one line per file", out)
    with open(SAMPLE, "rb") as f:
        rc, out, err = run(["split", "--parts", "2", "-"], stdin=f)
    check(rc == 0 and json.loads(out)["size"] == size, "split - on a file", rc, err)
    p = subprocess.run(["sh", "-c", 'cat "$1" | "$2" split -', "sh", SAMPLE, CLI],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    check(p.returncode == 2 and b"pipes cannot be split" in p.stderr, "split of a pipe", p)
    p = subprocess.run(["sh", "-c", 'cat "$1" | "$2" count --range 5000: -', "sh", SAMPLE, CLI],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    _, out, _ = run(["count", "--range", "5000:", SAMPLE])
    check(p.stdout == out, "--range on a pipe = on the file", p.stdout, out)
    for bad in (["count", "--range", "12", SAMPLE], ["count", "--range", "9:3", SAMPLE],
                ["count", "--range", "x:", SAMPLE], ["split", "--parts", "0", SAMPLE],
                ["split", "--parts", "2", "--target-size", "1M", SAMPLE]):
        rc, out, err = run(bad)
        check(rc == 2 and "--help" in err, "usage error: %s" % bad, rc, err)


def t_split_range_corpus():
    corpus = os.environ.get("MARCPIPE_CORPUS", os.path.join(ROOT, "..", "shared", "data"))
    if not os.path.isdir(corpus):
        skip("corpus %s not found (set MARCPIPE_CORPUS)" % corpus)
    for d, _, names in os.walk(corpus):
        for n in sorted(names):
            if n.endswith((".mrc", ".marc", ".dat", ".usmarc")):
                ranges_sum_to_whole(os.path.join(d, n), ["--parts", "5"])


# ---- progress bar ---------------------------------------------------------------

def big_input(tmp):
    path = os.path.join(tmp, "big.mrc")
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "data", "make_sample.py"),
                    path, "--records", "3000"], check=True, timeout=TIMEOUT)
    with open(path, "rb") as f:
        return f.read()


def slow_feed(pipe, data, seconds=1.5, pieces=30):
    step = (len(data) + pieces - 1) // pieces
    try:
        for i in range(0, len(data), step):
            pipe.write(data[i:i + step])
            pipe.flush()
            time.sleep(seconds / pieces)
    except BrokenPipeError:
        pass
    finally:
        pipe.close()


def t_progress_tty():
    with tempfile.TemporaryDirectory() as tmp:
        data = big_input(tmp)
        master, slave = pty.openpty()
        p = subprocess.Popen([CLI, "stats", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        feeder = threading.Thread(target=slow_feed, args=(p.stdin, data))
        feeder.start()
        tty = b""
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                tty += chunk
            elif p.poll() is not None:
                break
        out = p.stdout.read()
        rc = p.wait(TIMEOUT)
        feeder.join()
        os.close(master)
        check(b"rec/s" in tty and b"\r" in tty, "progress bar drawn on the terminal", tty[-500:])
        draws = tty.count(b"rec/s")
        check(2 <= draws <= 40, "redrawn at most ~10x/s over ~1.5 s", draws)
        check(tty.rfind(b"\r\x1b[K") > tty.rfind(b"rec/s"), "the last bar is cleared",
              tty[-300:])
        check(rc == 1 and b"records      2999" in out, "stats still correct", rc, out)


def t_progress_file_bar():
    """On regular files the bar shows a percentage and an ETA. The run is
    short, so MARCPIPE_PROGRESS_DELAY=0 draws it from the start."""
    with tempfile.TemporaryDirectory() as tmp:
        data = big_input(tmp)
        big = os.path.join(tmp, "big.mrc")
        with open(big, "wb") as f:
            for _ in range(4):
                f.write(data)
        master, slave = pty.openpty()
        t0 = time.time()
        env = dict(os.environ, MARCPIPE_PROGRESS_DELAY="0")
        p = subprocess.Popen([CLI, "count", big, big, big], stdout=subprocess.PIPE,
                             stderr=slave, env=env)
        os.close(slave)
        tty = b""
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                tty += chunk
            elif p.poll() is not None:
                break
        p.wait(TIMEOUT)
        os.close(master)
        elapsed = time.time() - t0
        check(b"ETA" in tty and b"%" in tty and b"[" in tty and b"rec/s" in tty,
              "percentage bar with ETA", tty[-300:], elapsed)
        check(tty.count(b"rec/s") <= elapsed * 10 + 2, "at most ~10 draws a second", tty,
              elapsed)
        check(tty.rfind(b"\r\x1b[K") > tty.rfind(b"rec/s"), "the last bar is cleared",
              tty[-300:])


def t_progress_not_tty():
    with tempfile.TemporaryDirectory() as tmp:
        data = big_input(tmp)
        p = subprocess.Popen([CLI, "stats", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        feeder = threading.Thread(target=slow_feed, args=(p.stdin, data))
        feeder.start()
        out = p.stdout.read()
        err = p.stderr.read()
        rc = p.wait(TIMEOUT)
        feeder.join()
        check(b"rec/s" not in err and b"\r" not in err and b"\x1b" not in err,
              "no bar when stderr is a pipe", err[-300:])
        check(rc == 1 and b"records      2999" in out, "stats correct", out)


# ---- warnings, per-file counts, --errors-json -----------------------------------

def make_record(fields, coding="a"):
    """ISO 2709 bytes: fields are (tag, body bytes); '$' in a body is 0x1F."""
    body = directory = b""
    for tag, data in fields:
        data = data.replace(b"$", b"\x1f") + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(data), len(body))
        body += data
    directory += b"\x1e"
    base = 24 + len(directory)
    leader = b"%05dnam %s22%05d   4500" % (base + len(body) + 1, coding.encode(), base)
    return leader + directory + body + b"\x1d"


def warned_file(tmp):
    """3 records: clean; a 650 ending in a bare delimiter (the issue's real
    catalogue case) and a field without indicators; a control-character code."""
    recs = [
        make_record([("001", b"clean1"), ("245", b"10$aA title")]),
        make_record([("001", b"warned2"), ("020", b"$a123"),
                     ("650", b" 0$aCats$xBehavior.$")]),
        make_record([("001", b"warned3"), ("245", b"10$\x14odd code")]),
    ]
    path = os.path.join(tmp, "warned.mrc")
    with open(path, "wb") as f:
        f.write(b"".join(recs))
    return path


def t_warnings():
    with tempfile.TemporaryDirectory() as tmp:
        path = warned_file(tmp)
        rc, out, err = run(["count", path])
        check(rc == 0 and out == b"3\n", "a readable record is a record: 3 records, exit 0",
              rc, out, err)
        lines = [l for l in err.splitlines() if l]
        check(len(lines) == 3 and all(": warning: " in l for l in lines),
              "one warning line per warning on stderr", err)
        check("record 2, offset %d: INDICATOR [001 warned2] [field 020]" %
              (marcfile.read(path)[1].offset + 24 + 3 * 12 + 1 + 8) in err,
              "warning names record (from 1), offset, kind, 001, field", err)
        check("SUBFIELD [001 warned2] [field 650]" in err and "record 3" in err,
              "the bare delimiter and the control code are warnings", err)
        rc, out, err = run(["dump", path])
        check(rc == 0 and out.count(b"\n\n") == 3 and b"650  0 $a Cats $x Behavior." in out,
              "dump prints the warned records", rc, out, err)
        check(err.count(": warning: ") == 3, "dump reports the warnings too", err)
        ej = os.path.join(tmp, "warnings.jsonl")
        rc, out, err = run(["convert", "-o", "marcxml", "-q", "--errors-json", ej,
                            "--output", os.path.join(tmp, "out.xml"), path])
        with open(ej, encoding="utf-8") as f:
            kinds = [json.loads(l)["kind"] for l in f]
        check(rc == 0 and kinds == ["INDICATOR", "SUBFIELD", "SUBFIELD"],
              "convert writes warned records and reports their warnings", rc, kinds, err)
        rc, out, err = run(["convert", "-o", "marcxml", "--errors-json", "-", path])
        check(rc == 2 and "--errors-json" in err, "--errors-json - with records on stdout", rc,
              err)
        rc, out, err = run(["count", "-q", path])
        check(rc == 0 and err == "", "-q silences warnings", rc, err)
        rc, out, err = run(["count", "--strict", path])
        check(rc == 1 and out == b"1\n", "--strict: warnings become error items", rc, out, err)
        check("record 2, offset" in err and "INDICATOR" in err and "warning" not in err,
              "--strict reports the first problem of each record", err)
        rc, out, err = run(["stats", "-q", path])
        check(b"warnings     3 (in 2 records)" in out and b"INDICATOR" in out,
              "stats counts warnings apart", out)
        for reader in ([], ["--sequential"]):
            rc, out, err = run(["stats", "--json", "-q"] + reader + [path])
            obj = json.loads(out)
            check(obj["records"] == 3 and obj["errors"] == 0 and obj["warnings"] == 3 and
                  obj["records_with_warnings"] == 2 and
                  obj["warnings_by_kind"] == {"INDICATOR": 1, "SUBFIELD": 2},
                  "--json warnings %s" % reader, obj)


def t_json_per_file():
    with tempfile.TemporaryDirectory() as tmp:
        path = warned_file(tmp)
        missing = os.path.join(tmp, "missing.mrc")
        rc, out, err = run(["count", "--json", "-q", SAMPLE, path, tmp, missing])
        obj = json.loads(out)
        check(rc == 2, "a directory and a missing file: exit 2", rc, err)
        pf = obj["per_file"]
        check([f["file"] for f in pf] == [SAMPLE, path, tmp, missing], "per_file order", pf)
        check(pf[0]["records"] == good_count() and pf[0]["errors"] == 1 and
              pf[0]["errors_by_kind"] and not pf[0]["failed"], "sample counts", pf[0])
        check(pf[1]["records"] == 3 and pf[1]["warnings"] == 3 and pf[1]["errors"] == 0,
              "warned file counts", pf[1])
        check(pf[2]["failed"] and pf[2]["error"] == "MP_EISDIR", "directory: MP_EISDIR", pf[2])
        check(pf[3]["failed"] and pf[3]["error"] == "MP_ENOENT", "missing: MP_ENOENT", pf[3])
        for k in ("records", "errors", "warnings", "records_with_warnings", "bytes"):
            check(obj[k] == sum(f[k] for f in pf), "totals are the sum of per_file: " + k, obj)
        check(obj["files"] == 2 and obj["failed_files"] == 2, "files / failed_files", obj)


def t_errors_json():
    with tempfile.TemporaryDirectory() as tmp:
        path = warned_file(tmp)
        ej = os.path.join(tmp, "errors.jsonl")
        rc, out, err = run(["count", "--json", "-q", "--errors-json", ej, SAMPLE, path, tmp])
        totals = json.loads(out)
        with open(ej, encoding="utf-8") as f:
            lines = [json.loads(l) for l in f]
        errors = [l for l in lines if l["type"] == "error"]
        warnings = [l for l in lines if l["type"] == "warning"]
        failures = [l for l in lines if l["type"] == "failure"]
        check(len(errors) == totals["errors"] == 1, "one line per error item", lines)
        check(len(warnings) == totals["warnings"] == 3, "one line per warning", lines)
        check(len(failures) == 1 and failures[0]["code"] == "MP_EISDIR" and
              failures[0]["file"] == tmp, "a failure line for the directory", failures)
        e = errors[0]
        for k in ("file", "kind", "ordinal", "record", "offset", "length", "control_number",
                  "tag", "subfield", "message"):
            check(k in e, "error line has " + k, e)
        check(e["file"] == SAMPLE and e["record"] == e["ordinal"] + 1 and
              e["control_number"] == "mp000060", "error line values", e)
        w = warnings[0]
        check(w["file"] == path and w["kind"] == "INDICATOR" and w["tag"] == "020" and
              w["ordinal"] == 1 and w["record"] == 2 and w["control_number"] == "warned2",
              "warning line values", w)
        check(warnings[2]["subfield"] == "\x14", "a control-character code survives JSON",
              warnings[2])
        # '-': the lines go to stdout, before the count.
        rc, out, err = run(["count", "--errors-json", "-", "-q", path])
        outl = out.decode().splitlines()
        check(len(outl) == 4 and outl[-1] == "3" and
              all(json.loads(l)["type"] == "warning" for l in outl[:3]),
              "--errors-json - writes to stdout", out)
        rc, out, err = run(["count", "--errors-json", os.path.join(tmp, "no", "such"), path])
        check(rc == 2 and "--errors-json" in err, "unwritable --errors-json: exit 2", rc, err)


def t_marc8_double():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lig.mrc")
        with open(path, "wb") as f:
            f.write(make_record([("001", b"lig"), ("245", b"10$a\xebt\xecs \xfan\xfbg")],
                                coding=" "))
        rc, out, err = run(["dump", path])
        check(rc == 0 and "245 10 $a t\u0361s n\u0360g".encode() in out,
              "default: U+0361 / U+0360 (LoC, yaz)", out, err)
        rc, out, err = run(["dump", "--marc8-double", "halves", path])
        check(rc == 0 and "245 10 $a t\ufe20s\ufe21 n\ufe22g\ufe23".encode() in out,
              "halves: U+FE20-U+FE23 (pymarc)", out, err)
        rc, out, err = run(["dump", "--marc8-double", "combined", path])
        check("t\u0361s".encode() in out, "combined by name", out)
        if shutil.which("yaz-marcdump"):
            p = subprocess.run(["yaz-marcdump", "-f", "marc8", "-t", "utf8", path],
                               stdout=subprocess.PIPE, timeout=TIMEOUT)
            yaz = unicodedata.normalize("NFC", p.stdout.decode("utf-8"))
            check("t\u0361s n\u0360g" in yaz, "yaz agrees with the default", yaz)


def t_isdir():
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run(["count", tmp])
        check(rc == 2 and "is a directory" in err, "a directory: 'is a directory', exit 2", rc,
              err)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            rc, out, err = run(["count", "-"], stdin=fd)
        finally:
            os.close(fd)
        check(rc == 2 and "is a directory" in err, "a directory on stdin too", rc, err)


def t_readme():
    """README.md's C example is examples/readme_example.c, byte for byte
    (that file is compiled and run by CTest), and its CLI help is current."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(ROOT, "examples", "readme_example.c"), encoding="utf-8") as f:
        example = f.read()
    blocks = re.findall(r"```c\n(.*?)```", readme, re.S)
    check(example in blocks, "README's ```c block equals examples/readme_example.c",
          blocks[:1])
    for cmd in ("make run", "make test"):
        check(cmd in readme, "README quick start has %r" % cmd)
    for doc in ("core/ARCHITECTURE.md", "perf/PERFORMANCE.md", "test/RELIABILITY.md",
                "bindings/python/README.md", "stages/FRAMING.md"):
        check("(%s)" % doc in readme, "README links %s" % doc)


def regenerate():
    os.makedirs(GOLDEN, exist_ok=True)
    _, out, _ = run(["dump", SAMPLE])
    with open(os.path.join(GOLDEN, "sample.dump"), "wb") as f:
        f.write(out)
    _, out, _ = run(["count", SAMPLE])
    with open(os.path.join(GOLDEN, "sample.count"), "wb") as f:
        f.write(out)
    print("regenerated", GOLDEN)


def main():
    global CLI, SAMPLE
    case, CLI, SAMPLE = sys.argv[1:4]
    if case == "regenerate":
        regenerate()
        return
    globals()["t_" + case]()
    print("PASS:", case)


if __name__ == "__main__":
    main()
