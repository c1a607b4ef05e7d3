#!/usr/bin/env python3
"""Python loop benchmark: `for r in MARCReader(path): r.title`, records/s.

Runs marcpipe on the real-world corpus repeated to --mb megabytes (in a temp
file, page-cached), and the same loop under pymarc when pymarc is importable
(skipped with a note otherwise). Usage:

    PYTHONPATH=build/python python3 perf/py_bench.py [--corpus DIR] [--mb 100]
"""

import argparse
import os
import sys
import tempfile
import time


def bench(fn, repeat):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    return n, best


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--corpus", default=os.environ.get("MARCPIPE_CORPUS",
                                                       os.path.join(here, "..", "..", "shared", "data")))
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    src = os.path.join(args.corpus, "realworld", "watson_mma_pubs_2025_04.mrc")
    if not os.path.exists(src):
        print(f"SKIP: corpus file {src} not found")
        return 0
    import marcpipe

    one = open(src, "rb").read()
    times = max(1, args.mb * 1_000_000 // len(one))
    with tempfile.NamedTemporaryFile(suffix=".mrc", delete=False) as f:
        for _ in range(times):
            f.write(one)
        path = f.name
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as fh:  # page cache
            while fh.read(1 << 24):
                pass

        def mp_loop():
            n = 0
            for r in marcpipe.MARCReader(path, threads=args.threads or None):
                r.title
                n += 1
            return n

        n, dt = bench(mp_loop, args.repeat)
        mp_rate = n / dt
        print(f"marcpipe {marcpipe.LIB_VERSION}: {n} records, {size / 1e6:.0f} MB, "
              f"{dt:.2f} s, {mp_rate:,.0f} records/s, {size / dt / 1e6:.0f} MB/s")
        try:
            import pymarc
        except ImportError:
            print("pymarc: SKIP (not importable: not packaged for Debian 12 and PyPI is not "
                  "reachable here); no ratio reported")
            return 0

        def pm_loop():
            n = 0
            with open(path, "rb") as fh:
                for r in pymarc.MARCReader(fh):
                    if r is not None:
                        r.title
                    n += 1
            return n

        n2, dt2 = bench(pm_loop, 1)
        print(f"pymarc {getattr(pymarc, '__version__', '(version unknown)')}: {n2} records, {dt2:.2f} s, {n2 / dt2:,.0f} records/s")
        print(f"ratio marcpipe/pymarc: {mp_rate / (n2 / dt2):.1f}x (target >= 40x)")
    finally:
        os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
