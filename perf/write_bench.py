#!/usr/bin/python3
"""Writers benchmark: conversion from the CLI against yaz-marcdump, the
ISO 2709 copy rate, and the Python writers against pymarc 5.3.1.

    perf/write_bench.py --build build --corpus ../shared/data [--file BIG.mrc] [-k 5]

Measures, each configuration in interleaved rounds (every round runs every
configuration once, so a slow spell of this shared machine hits all alike),
reporting the median and best of the rounds:

  C     marcpipe convert -o marcxml FILE > /dev/null    vs  yaz-marcdump -o marcxml FILE
        marcpipe convert -o iso2709 FILE > /dev/null    (MB/s of input; the copy)
        marcpipe convert -o json / ndjson / mrk         (for reference)
        on FILE: the realworld file repeated to >= 200 MB (perf/out/corpus_200M.mrc,
        made with mpcorpus when absent), page-cached first.
  Py    XMLWriter, JSONWriter, MARCWriter, TextWriter over a --py-mb MB file
        (read with the library's MARCReader vs pymarc's, each writing to an
        in-memory buffer; wall and CPU seconds), and per record as_json(),
        as_dict(), str(), as_marc() on --py-records records already read
        (CPU time per record: single-threaded, so the load of a shared
        machine does not distort it; wall time is reported too).

Prints one JSON object on stdout (and a table on stderr); bench.py stores it
under "writers". pymarc comes from --pymarc (default ../shared/peers/
pymarc-5.3.1); without it, or without yaz-marcdump, those ratios are SKIP.
--smoke: tiny inputs, one round, sanity only.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REALWORLD = "realworld/watson_mma_pubs_2025_04.mrc"


def log(msg):
    print("write_bench: " + msg, file=sys.stderr, flush=True)


def timed(cmd, stdout=subprocess.DEVNULL):
    """Wall seconds and CPU seconds (user+sys of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, timeout=3600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode not in (0, 1):
        raise SystemExit("write_bench: %s failed (%d): %s" % (cmd, p.returncode, p.stderr[-500:]))
    return wall, cpu


def summary(walls, cpus, nbytes):
    med = statistics.median(walls)
    return {"median_s": med, "best_s": min(walls), "runs": len(walls),
            "median_mb_s": nbytes / 1e6 / med, "best_mb_s": nbytes / 1e6 / min(walls),
            "median_cpu_s": statistics.median(cpus)}


def c_benchmarks(a, cli, big):
    size = os.path.getsize(big)
    configs = [("marcpipe_marcxml", [cli, "convert", "-q", "-o", "marcxml", big]),
               ("marcpipe_iso2709", [cli, "convert", "-q", "-o", "iso2709", big]),
               ("marcpipe_json", [cli, "convert", "-q", "-o", "json", big]),
               ("marcpipe_mrk", [cli, "convert", "-q", "-o", "mrk", big])]
    yaz = shutil_which("yaz-marcdump")
    if yaz:
        configs.insert(1, ("yaz_marcxml", [yaz, "-o", "marcxml", big]))
        configs.append(("yaz_iso2709", [yaz, "-o", "marc", big]))
    runs = {name: ([], []) for name, _ in configs}
    for r in range(a.k):
        for name, cmd in configs:
            w, c = timed(cmd)
            runs[name][0].append(w)
            runs[name][1].append(c)
        log("round %d/%d: %s" % (r + 1, a.k, ", ".join("%s %.2fs" % (n, runs[n][0][-1])
                                                       for n, _ in configs)))
    out = {name: summary(w, c, size) for name, (w, c) in runs.items()}
    res = {"file": big, "bytes": size, "load": os.getloadavg(), "configs": out}
    if yaz:
        res["ratio_marcxml_vs_yaz"] = out["yaz_marcxml"]["median_s"] / out["marcpipe_marcxml"]["median_s"]
        res["ratio_marcxml_vs_yaz_best"] = out["yaz_marcxml"]["best_s"] / out["marcpipe_marcxml"]["best_s"]
        res["ratio_marcxml_vs_yaz_cpu"] = (out["yaz_marcxml"]["median_cpu_s"] /
                                           out["marcpipe_marcxml"]["median_cpu_s"])
    else:
        res["ratio_marcxml_vs_yaz"] = None
        log("SKIP yaz-marcdump: not installed (Debian: yaz)")
    res["iso2709_copy_mb_s"] = out["marcpipe_iso2709"]["median_mb_s"]
    return res


def shutil_which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


# ---- Python ------------------------------------------------------------------------

PY_CHILD = r'''
import io, json, sys, time
lib, task, path, nrec = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if lib == "pymarc":
    sys.path.insert(0, sys.argv[5])
import importlib
m = importlib.import_module(lib)
assert lib != "pymarc" or "peers" in m.__file__, m.__file__

def read(p):
    with open(p, "rb") as f:
        return [r for r in m.MARCReader(f) if r is not None]

METHODS = {"as_json": lambda r: r.as_json(), "as_dict": lambda r: r.as_dict(),
           "str": str, "as_marc": lambda r: r.as_marc(), "title": lambda r: r.title}
if task.startswith("loop_"):  # read the file and call the method on every record
    meth = METHODS[task[5:]]
    c0 = time.process_time()
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        for r in m.MARCReader(f):
            if r is not None:
                meth(r)
                n += 1
    print(json.dumps({"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                      "records": n}))
elif task.endswith("Writer"):
    binary = task in ("XMLWriter", "MARCWriter")
    c0 = time.process_time()
    t0 = time.perf_counter()
    buf = io.BytesIO() if binary else io.StringIO()
    w = getattr(m, task)(buf)
    n = 0
    with open(path, "rb") as f:
        for r in m.MARCReader(f):
            if r is not None:
                w.write(r)
                n += 1
    w.close(close_fh=False)
    print(json.dumps({"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                      "records": n, "out": len(buf.getvalue())}))
else:
    recs = read(path)[:nrec]
    meth = METHODS[task]
    for r in recs[:50]:
        meth(r)  # warm
    c0 = time.process_time()
    t0 = time.perf_counter()
    for r in recs:
        meth(r)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"s": dt, "records": len(recs), "us_per_record": dt * 1e6 / len(recs),
                      "cpu_us_per_record": cpu * 1e6 / len(recs)}))
'''


def py_benchmarks(a, pyfile):
    pydir = os.path.join(os.path.abspath(a.build), "python")
    have_pymarc = os.path.isdir(os.path.join(a.pymarc, "pymarc"))
    if not have_pymarc:
        log("SKIP pymarc: %s not found (--pymarc)" % a.pymarc)
    env = dict(os.environ, PYTHONPATH=pydir)

    def child(lib, task, nrec):
        p = subprocess.run([sys.executable, "-c", PY_CHILD, lib, task, pyfile, str(nrec), a.pymarc],
                           capture_output=True, text=True, env=env, timeout=3600)
        if p.returncode:
            raise SystemExit("write_bench: %s %s failed: %s" % (lib, task, p.stderr[-800:]))
        return json.loads(p.stdout)

    res = {"file_bytes": os.path.getsize(pyfile), "writers": {}, "methods": {}}
    # Interleaved: each round runs ours, then pymarc (pymarc only in the first
    # --pymarc-rounds rounds: it is slow). Ratios of medians, wall and CPU.
    for task in ("XMLWriter", "JSONWriter", "MARCWriter", "TextWriter"):
        ours, theirs = [], []
        for r in range(a.py_rounds):
            ours.append(child("marcpipe", task, 0))
            if have_pymarc and r < a.pymarc_rounds:
                theirs.append(child("pymarc", task, 0))
        row = {"marcpipe_median_s": statistics.median(x["s"] for x in ours),
               "marcpipe_median_cpu_s": statistics.median(x["cpu_s"] for x in ours),
               "marcpipe_best_s": min(x["s"] for x in ours)}
        if theirs:
            row["pymarc_median_s"] = statistics.median(x["s"] for x in theirs)
            row["pymarc_median_cpu_s"] = statistics.median(x["cpu_s"] for x in theirs)
            row["ratio"] = row["pymarc_median_s"] / row["marcpipe_median_s"]
            row["ratio_cpu"] = row["pymarc_median_cpu_s"] / row["marcpipe_median_cpu_s"]
        res["writers"][task] = row
        log("%-10s ours %.3fs (cpu %.3fs)  pymarc %s  ratio %s" % (
            task, row["marcpipe_median_s"], row["marcpipe_median_cpu_s"],
            "%.2fs (cpu %.2fs)" % (row["pymarc_median_s"], row["pymarc_median_cpu_s"]) if theirs else "SKIP",
            "%.1fx wall, %.1fx cpu" % (row["ratio"], row["ratio_cpu"]) if theirs else "SKIP"))
    # The issue's own measure: read the file and call the method on each
    # record ("for r in MARCReader(f): r.as_json()"), both libraries.
    res["loops"] = {}
    for task in ("title", "as_json", "as_dict", "str"):
        ours, theirs = [], []
        for r in range(a.py_rounds):
            ours.append(child("marcpipe", "loop_" + task, 0))
            if have_pymarc and r < a.pymarc_rounds:
                theirs.append(child("pymarc", "loop_" + task, 0))
        row = {"marcpipe_median_s": statistics.median(x["s"] for x in ours),
               "marcpipe_median_cpu_s": statistics.median(x["cpu_s"] for x in ours)}
        if theirs:
            row["pymarc_median_s"] = statistics.median(x["s"] for x in theirs)
            row["pymarc_median_cpu_s"] = statistics.median(x["cpu_s"] for x in theirs)
            row["ratio"] = row["pymarc_median_s"] / row["marcpipe_median_s"]
            row["ratio_cpu"] = row["pymarc_median_cpu_s"] / row["marcpipe_median_cpu_s"]
        res["loops"][task] = row
        log("loop+%-8s ours %.3fs (cpu %.3fs)  pymarc %s  ratio %s" % (
            task, row["marcpipe_median_s"], row["marcpipe_median_cpu_s"],
            "%.2fs (cpu %.2fs)" % (row["pymarc_median_s"], row["pymarc_median_cpu_s"]) if theirs else "SKIP",
            "%.1fx wall, %.1fx cpu" % (row["ratio"], row["ratio_cpu"]) if theirs else "SKIP"))
    # Per record, single-threaded: CPU time is the measure that a loaded
    # machine does not distort (wall time is kept too).
    for task in ("as_json", "as_dict", "str", "as_marc"):
        ours, theirs = [], []
        for r in range(a.py_rounds):
            ours.append(child("marcpipe", task, a.py_records))
            if have_pymarc:
                theirs.append(child("pymarc", task, a.py_records))
        row = {"marcpipe_us": statistics.median(x["cpu_us_per_record"] for x in ours),
               "marcpipe_wall_us": statistics.median(x["us_per_record"] for x in ours)}
        if theirs:
            row["pymarc_us"] = statistics.median(x["cpu_us_per_record"] for x in theirs)
            row["pymarc_wall_us"] = statistics.median(x["us_per_record"] for x in theirs)
            row["ratio"] = row["pymarc_us"] / row["marcpipe_us"]
            row["ratio_wall"] = row["pymarc_wall_us"] / row["marcpipe_wall_us"]
        res["methods"][task] = row
        log("%-10s ours %.2f us/record cpu  pymarc %s  ratio %s" % (
            task, row["marcpipe_us"], "%.1f" % row["pymarc_us"] if theirs else "SKIP",
            "%.1fx cpu (%.1fx wall)" % (row["ratio"], row["ratio_wall"]) if theirs else "SKIP"))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--corpus", default=os.environ.get("MARCPIPE_CORPUS",
                                                       os.path.join(REPO, "..", "shared", "data")))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--file", help="the >= 200 MB input (default: out/corpus_200M.mrc, made if absent)")
    ap.add_argument("--size", default="200M")
    ap.add_argument("-k", type=int, default=5, help="interleaved rounds of the C runs")
    ap.add_argument("--py-mb", type=int, default=20, help="size of the Python writers' input")
    ap.add_argument("--py-rounds", type=int, default=3)
    ap.add_argument("--pymarc-rounds", type=int, default=1, help="pymarc is slow: fewer rounds")
    ap.add_argument("--py-records", type=int, default=3945)
    ap.add_argument("--pymarc", default=os.path.join(REPO, "..", "shared", "peers", "pymarc-5.3.1"))
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    a.pymarc = os.path.abspath(a.pymarc)
    os.makedirs(a.out, exist_ok=True)
    cli = os.path.join(os.path.abspath(a.build), "stages", "cli", "marcpipe")
    mpcorpus = os.path.join(os.path.abspath(a.build), "perf", "mpcorpus")
    src = os.path.join(a.corpus, REALWORLD)
    if not os.path.exists(src):
        print(json.dumps({"skip": "realworld corpus %s not found" % src}))
        return 0
    if a.smoke:  # sanity only: tiny inputs, no pymarc
        a.k, a.py_rounds, a.py_mb, a.py_records, a.size = 1, 1, 1, 200, "4M"
        a.pymarc = "/nonexistent"
    big = a.file or os.path.join(a.out, "corpus_%s.mrc" % a.size)
    if not os.path.exists(big):
        subprocess.run([mpcorpus, "repeat", src, big, "--repeat-to", a.size], check=True,
                       stdout=subprocess.DEVNULL)
    with open(big, "rb") as f:  # page cache
        while f.read(1 << 24):
            pass
    res = {"c": c_benchmarks(a, cli, big)}
    if not a.no_python:
        one = open(src, "rb").read()
        with tempfile.NamedTemporaryFile(suffix=".mrc", delete=False, dir=a.out) as f:
            for _ in range(max(1, a.py_mb * 1_000_000 // len(one))):
                f.write(one)
            pyfile = f.name
        try:
            res["python"] = py_benchmarks(a, pyfile)
        finally:
            os.unlink(pyfile)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
