#!/usr/bin/env python3
"""Python loop benchmark: `for r in MARCReader(path): r.title`, against pymarc 5.3.1.

    PYTHONPATH=build/python python3 perf/py_bench.py --file A.mrc [--file B.mrc ...] [--rounds 3]

For each file, marcpipe and pymarc run the same loop, each measurement in a
fresh interpreter, rounds interleaved (marcpipe, pymarc, marcpipe, ...). The
timed part starts before the reader is created and ends after it is closed:
the reader's start-up (threads, buffers) is included; interpreter start and
`import` are not, and are reported apart (import_s). pymarc is imported from
the path, or from ../shared/peers/pymarc-5.3.1 (the reference copy beside the
project) when it is not installed; without it the ratio is skipped with a
note. Prints one JSON object per file on stdout.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "peers", "pymarc-5.3.1"))


def one(which, path, mode):
    """Runs in the child: one timed loop, prints JSON."""
    t0 = time.perf_counter()
    if which == "pymarc":
        import pymarc
        t1 = time.perf_counter()
        n = 0
        with open(path, "rb") as fh:
            for r in pymarc.MARCReader(fh):
                if r is not None:
                    r.title
                n += 1
        extra = {"version": getattr(pymarc, "__version__", "5.3.1?")}
    else:
        import marcpipe
        t1 = time.perf_counter()
        n = 0
        with marcpipe.MARCReader(path, mode=mode) as reader:
            for r in reader:
                if r is not None:
                    r.title
                n += 1
            st = reader.stats() or {}
        extra = {"version": marcpipe.LIB_VERSION, "path": st.get("mode"), "workers": st.get("workers"),
                 "chunks_consumer": st.get("chunks_consumer")}
    t2 = time.perf_counter()
    print(json.dumps(dict(which=which, records=n, import_s=t1 - t0, seconds=t2 - t1, **extra)))


def child(which, path, env, mode):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", which, path, "--mode", mode],
                       capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        return {"which": which, "failed": p.returncode, "stderr": p.stderr[-800:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pymarc-rounds", type=int, default=0, help="0: as --rounds, 1 for files >= 100 MB")
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--one", nargs=2, metavar=("WHICH", "FILE"))
    a = ap.parse_args()
    if a.one:
        one(a.one[0], a.one[1], a.mode)
        return 0
    env = dict(os.environ)
    have_pymarc = subprocess.run([sys.executable, "-c", "import pymarc"], capture_output=True,
                                 env=env).returncode == 0
    pymarc_from = "installed"
    if not have_pymarc and os.path.isdir(os.path.join(PEER, "pymarc")):
        env["PYTHONPATH"] = env.get("PYTHONPATH", "") + os.pathsep + PEER
        have_pymarc = subprocess.run([sys.executable, "-c", "import pymarc"], capture_output=True,
                                     env=env).returncode == 0
        pymarc_from = PEER
    for path in a.file:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:  # page cache
            while fh.read(1 << 24):
                pass
        pr = a.pymarc_rounds or (1 if size >= 100e6 else a.rounds)
        mp, pm = [], []
        for r in range(a.rounds):
            mp.append(child("marcpipe", path, env, a.mode))
            if have_pymarc and r < pr:
                pm.append(child("pymarc", path, env, a.mode))
        out = {"file": path, "bytes": size, "rounds": a.rounds, "marcpipe": mp, "pymarc": pm,
               "pymarc_from": pymarc_from if have_pymarc else None}
        ok = [x for x in mp if "seconds" in x]
        if ok:
            secs = [x["seconds"] for x in ok]
            out["marcpipe_s_median"] = statistics.median(secs)
            out["marcpipe_s_min"], out["marcpipe_s_max"] = min(secs), max(secs)
            out["records"] = ok[0]["records"]
            out["marcpipe_rec_s_median"] = ok[0]["records"] / out["marcpipe_s_median"]
            out["import_s_median"] = statistics.median(x["import_s"] for x in ok)
        okp = [x for x in pm if "seconds" in x]
        if okp and ok:
            psecs = [x["seconds"] for x in okp]
            out["pymarc_s_median"] = statistics.median(psecs)
            out["pymarc_rec_s_median"] = okp[0]["records"] / out["pymarc_s_median"]
            out["ratio_median"] = out["pymarc_s_median"] / out["marcpipe_s_median"]
            out["ratio_min"] = min(psecs) / max(secs)
            out["ratio_max"] = max(psecs) / min(secs)
            if okp[0]["records"] != ok[0]["records"]:
                out["note"] = "record counts differ: pymarc %d, marcpipe %d" % (okp[0]["records"],
                                                                               ok[0]["records"])
        elif not have_pymarc:
            out["note"] = ("pymarc not importable (not packaged for Debian 12, PyPI unreachable, "
                           "%s absent): no ratio" % PEER)
        print(json.dumps(out))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
