#!/usr/bin/python3
"""Byte ranges at scale: split planning, Dask against one reader, pickling.

    PYTHONPATH=build/python perf/ranges_bench.py --build build --corpus ../shared/data \
        --out perf/out [--size 200M] [--big 2G] [-k 3] [--smoke]

Prints one JSON object per line (perf/bench.py collects them):

- split_plan: `marcpipe.splits(file, ...)` (one mp_split_plan_path call) on
  the --big file (the realworld corpus repeated to 2 GB, made in --big-dir),
  for 16 / 64 / 256 parts and 64 MiB blocks: median and best of k calls, in
  process (no interpreter start); and `marcpipe split --parts 64` as a whole
  process. The file is in the page cache (it was just written or read).
- dask_650a: the number of 650 $a values over the --size corpus (>= 200 MB),
  counted by one plain `MARCReader(path, threads=1)` in this process, and by
  `marcpipe.dask.read_marc(path, blocksize)` on a LocalCluster of 2 worker
  processes (1 thread each; cluster started before timing, its start time
  reported apart). Rounds alternate single / Dask; medians and bests. The
  per-partition overhead is the slope between a run with 64 MiB partitions
  and one with 2 MiB partitions: (T_small - T_big) / (P_small - P_big).
  Both counts must agree, or the run fails. CPU seconds are measured too
  (the plain reader's Python thread and its other threads; Dask's workers
  plus the client process), giving a load-independent estimate of the
  speedup an idle 2-core machine would show: max(Python thread, other
  threads) / (Dask CPU / 2).
- pickle: the first 20,000 records of the realworld corpus: pickled bytes
  per record against their ISO 2709 bytes, dumps/loads microseconds.

--smoke: small sizes, k = 1; checks only that everything runs and agrees.
"""

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REALWORLD = "realworld/watson_mma_pubs_2025_04.mrc"


def log(msg):
    print("ranges_bench: " + msg, file=sys.stderr, flush=True)


def load():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0:3]
    except OSError:
        return []


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper()
    return int(float(s[:-1]) * mult[s[-1]]) if s[-1] in mult else int(s)


def repeat_to(src, dst, size):
    """dst = src repeated to >= size bytes (kept when already there)."""
    if os.path.exists(dst) and os.path.getsize(dst) >= size and \
            os.path.getmtime(dst) >= os.path.getmtime(src):
        return dst
    with open(src, "rb") as f:
        one = f.read()
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        n = 0
        while n < size:
            f.write(one)
            n += len(one)
    os.replace(tmp, dst)
    return dst


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def timed(fn, k):
    ts, res = [], None
    for _ in range(k):
        t = time.perf_counter()
        res = fn()
        ts.append(time.perf_counter() - t)
    return res, ts


def bench_split(a, marcpipe, big):
    size = os.path.getsize(big)
    for kw in ({"parts": 16}, {"parts": 64}, {"parts": 256}, {"blocksize": "64MiB"}):
        plan, ts = timed(lambda: marcpipe.splits(big, **kw), max(a.k, 5))
        assert plan[0].start == 0 and plan[-1].end == size
        o = {"bench": "split_plan", "via": "marcpipe.splits (mp_split_plan_path, in process)",
             "file_bytes": size, "options": kw, "ranges": len(plan),
             "median_ms": round(statistics.median(ts) * 1e3, 3),
             "best_ms": round(min(ts) * 1e3, 3), "load": load()}
        print(json.dumps(o), flush=True)
        log("split %s of %.2f GB: %d ranges, median %.2f ms, best %.2f ms" % (
            kw, size / 1e9, len(plan), o["median_ms"], o["best_ms"]))
    cli = os.path.join(os.path.abspath(a.build), "stages", "cli", "marcpipe")
    if os.access(cli, os.X_OK):
        def run():
            p = subprocess.run([cli, "split", "--parts", "64", big], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            return json.loads(p.stdout)
        plan, ts = timed(run, max(a.k, 5))
        o = {"bench": "split_plan", "via": "marcpipe split --parts 64 (whole process)",
             "file_bytes": size, "options": {"parts": 64}, "ranges": len(plan["ranges"]),
             "median_ms": round(statistics.median(ts) * 1e3, 3),
             "best_ms": round(min(ts) * 1e3, 3), "load": load()}
        print(json.dumps(o), flush=True)
        log("CLI split --parts 64: median %.2f ms" % o["median_ms"])


def count_650a(record):
    return sum(len(f.get_subfields("a")) for f in record.get_fields("650"))


def cpu_s():
    """CPU seconds (user + system) of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def single_count(marcpipe, path, cpu):
    """The plain reader; cpu["thread"] += this (Python) thread's CPU seconds,
    cpu["process"] += the process's (the reader's C thread included)."""
    n = recs = 0
    t0, p0 = time.thread_time(), cpu_s()
    with marcpipe.MARCReader(path, threads=1) as r:
        for rec in r:
            if rec is not None:
                recs += 1
                n += count_650a(rec)
    cpu["thread"] += time.thread_time() - t0
    cpu["process"] += cpu_s() - p0
    return n, recs


def bench_dask(a, marcpipe, path):
    try:
        import marcpipe.dask as md
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        print(json.dumps({"bench": "dask_650a", "skipped": "Dask not importable: %s "
                          "(Debian: python3-dask python3-distributed python3-pandas)" % e}))
        return
    # The reader's share of a partition's fixed cost: open a range reader in
    # the middle of the file, read its first record, close it.
    mid = marcpipe.splits(path, parts=2)[-1]

    def one_record():
        with marcpipe.MARCReader(path, threads=1, range_start=mid.start + 1) as r:
            return next(iter(r))
    _, ts = timed(one_record, 50)
    open_ms = statistics.median(ts) * 1e3
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    start_s = time.perf_counter() - t
    big_bs, small_bs = ("64MiB", "2MiB") if not a.smoke else ("1MiB", "256KiB")
    try:
        def workers_cpu():
            return sum(client.run(cpu_s).values())

        def dask_count(bs, cpu=None):
            w0, p0 = workers_cpu(), cpu_s()
            bag = md.read_marc(path, blocksize=bs)
            res = client.compute(bag.map(count_650a).sum(), sync=True), bag.npartitions
            if cpu is not None:  # workers + this process (client, scheduler)
                cpu["total"] += workers_cpu() - w0 + cpu_s() - p0
            return res

        # Warm: worker imports, page cache, first task.
        dask_count(big_bs)
        single, dask_big, dask_small = [], [], []
        scpu, dcpu = {"thread": 0.0, "process": 0.0}, {"total": 0.0}
        nparts = {}
        for _ in range(a.k):
            (n1, recs), ts = timed(lambda: single_count(marcpipe, path, scpu), 1)
            single += ts
            (n2, p_big), ts = timed(lambda: dask_count(big_bs, dcpu), 1)
            dask_big += ts
            (n3, p_small), ts = timed(lambda: dask_count(small_bs), 1)
            dask_small += ts
            nparts = {"big": p_big, "small": p_small}
            if not (n1 == n2 == n3):
                raise SystemExit("ranges_bench: counts differ: single %d, dask %d / %d" % (n1, n2, n3))
        ms, mb, msm = (statistics.median(x) for x in (single, dask_big, dask_small))
        # Load-independent: what an idle 2-core machine would show. The plain
        # reader's wall time there is its busier thread (the Python thread or
        # the reader's C thread); Dask's is its total CPU over 2 cores.
        py, other = scpu["thread"] / a.k, (scpu["process"] - scpu["thread"]) / a.k
        dtot = dcpu["total"] / a.k
        o = {"bench": "dask_650a", "file_bytes": os.path.getsize(path), "records": recs,
             "count_650a": n1, "cluster": "LocalCluster 2 processes x 1 thread",
             "cluster_start_s": round(start_s, 3), "runs": a.k,
             "single_s_median": round(ms, 3), "single_s_best": round(min(single), 3),
             "dask_s_median": round(mb, 3), "dask_s_best": round(min(dask_big), 3),
             "blocksize": big_bs, "partitions": nparts["big"],
             "speedup_median": round(ms / mb, 3), "speedup_best": round(min(single) / min(dask_big), 3),
             "small_blocksize": small_bs, "small_partitions": nparts["small"],
             "dask_small_s_median": round(msm, 3),
             "per_partition_overhead_ms": round((msm - mb) / max(1, nparts["small"] - nparts["big"])
                                                * 1e3, 3),
             "range_reader_open_first_close_ms": round(open_ms, 3),
             "single_python_thread_cpu_s": round(py, 3), "single_other_threads_cpu_s": round(other, 3),
             "dask_total_cpu_s": round(dtot, 3),
             "speedup_idle_2core_estimate": round(max(py, other) / (dtot / 2), 3),
             "load": load()}
        print(json.dumps(o), flush=True)
        log("650$a count over %.0f MB: single %.2f s, Dask 2 procs %.2f s (%d partitions): %.2fx "
            "median (%.2fx best); per-partition overhead %.2f ms; CPU: single %.2f s Python thread "
            "+ %.2f s other, Dask %.2f s total -> idle 2-core estimate %.2fx" % (
                o["file_bytes"] / 1e6, ms, mb, nparts["big"], o["speedup_median"],
                o["speedup_best"], o["per_partition_overhead_ms"], py, other, dtot,
                o["speedup_idle_2core_estimate"]))
    finally:
        client.close()
        cluster.close()


def bench_pickle(a, marcpipe, path):
    with marcpipe.MARCReader(path, threads=1) as r:
        recs = [x for x, _ in zip(r, range(2000 if a.smoke else 20000)) if x is not None]
    # as_marc() marks the leader UTF-8: measure ISO sizes on fresh copies.
    with marcpipe.MARCReader(path, threads=1) as r:
        iso = sum(len(x.as_marc()) for x, _ in zip(r, range(len(recs))) if x is not None)
    blobs, td = timed(lambda: [pickle.dumps(x, protocol=5) for x in recs], 3)
    _, tl = timed(lambda: [pickle.loads(b) for b in blobs], 3)
    o = {"bench": "pickle", "records": len(recs), "pickled_bytes": sum(len(b) for b in blobs),
         "iso2709_bytes": iso, "ratio_to_iso2709": round(sum(len(b) for b in blobs) / iso, 3),
         "dumps_us_per_record": round(min(td) / len(recs) * 1e6, 3),
         "loads_us_per_record": round(min(tl) / len(recs) * 1e6, 3), "load": load()}
    print(json.dumps(o), flush=True)
    log("pickle: %.2fx the ISO 2709 bytes, dumps %.2f us, loads %.2f us per record" % (
        o["ratio_to_iso2709"], o["dumps_us_per_record"], o["loads_us_per_record"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--corpus", default=os.environ.get("MARCPIPE_CORPUS", ""))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--size", default="200M")
    ap.add_argument("--big", default="2G")
    ap.add_argument("--big-dir", default="/tmp",
                    help="where the inputs are made (default /tmp: never the repository)")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", choices=("split", "dask", "pickle"))
    a = ap.parse_args()
    if a.smoke:
        a.k, a.size, a.big = 1, "8M", "32M"
    sys.path.insert(0, os.path.join(os.path.abspath(a.build), "python"))
    import marcpipe

    src = os.path.join(a.corpus, REALWORLD) if a.corpus else ""
    if not os.path.exists(src):
        print(json.dumps({"bench": "ranges", "skipped": "realworld corpus absent (%s)" % src}))
        return 0
    os.makedirs(a.out, exist_ok=True)
    if a.only in (None, "split"):
        big = repeat_to(src, os.path.join(a.big_dir, "marcpipe_ranges_%s.mrc" % a.big),
                        parse_size(a.big))
        warm(big)
        bench_split(a, marcpipe, big)
    if a.only in (None, "dask", "pickle"):
        path = repeat_to(src, os.path.join(a.big_dir, "marcpipe_ranges_%s.mrc" % a.size),
                         parse_size(a.size))
        warm(path)
        if a.only in (None, "dask"):
            bench_dask(a, marcpipe, path)
        if a.only in (None, "pickle"):
            bench_pickle(a, marcpipe, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
