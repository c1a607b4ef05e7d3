#!/usr/bin/python3
"""Per-record Python methods against pymarc 5.3.1: str(record), as_dict(),
as_json(), as_marc(), timed as perf/write_bench.py times them, with more
rounds and optionally a second build of the binding (before/after).

    perf/method_bench.py --build build [--baseline OTHER_BUILD] [-k 9]
                         [--methods str,as_dict] [--corpus ../shared/data]

Each measurement runs in a fresh interpreter (as write_bench.py's child):
the realworld file's records are read into a list, the method is called on
the first 50 (warm-up), then once on every record, timed with
time.process_time (CPU) and time.perf_counter (wall); reported per record.
Method "as_dict_floor" times marshal.loads of each record's marshalled
as_dict() instead: CPython building the same objects from bytes in C, a
floor for any as_dict() (pymarc's column then shows the same floor).
Rounds are interleaved: every round measures the baseline build (if any),
the build, then pymarc, one method after the other, so a slow spell of a
shared machine hits all alike. Prints, per method and per library, the
median CPU and wall microseconds with [min-max] over the rounds, the ratio
of pymarc's median CPU time to ours, and the median of the per-round ratios
(ours and pymarc measured back to back); --json: one JSON object instead.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REALWORLD = "realworld/watson_mma_pubs_2025_04.mrc"

CHILD = r'''
import json, sys, time
lib, libdir, meth, path = sys.argv[1:5]
sys.path.insert(0, libdir)
import importlib
m = importlib.import_module(lib)
assert m.__file__.startswith(libdir), m.__file__
with open(path, "rb") as f:
    recs = [r for r in m.MARCReader(f) if r is not None]
fn = {"str": str, "as_dict": lambda r: r.as_dict(), "as_json": lambda r: r.as_json(),
      "as_marc": lambda r: r.as_marc()}.get(meth)
if meth == "as_dict_floor":
    # CPython's fastest way to build the objects of as_dict() (marshal's
    # C reader, from bytes made beforehand): a floor for any as_dict()
    import marshal
    recs = [marshal.dumps(r.as_dict()) for r in recs]
    fn = marshal.loads
for r in recs[:50]:
    fn(r)
c0 = time.process_time()
t0 = time.perf_counter()
for r in recs:
    fn(r)
wall = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({"cpu_us": cpu * 1e6 / len(recs), "wall_us": wall * 1e6 / len(recs),
                  "records": len(recs)}))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--baseline", help="another build directory, measured in the same rounds")
    ap.add_argument("--corpus", default=os.environ.get("MARCPIPE_CORPUS",
                                                       os.path.join(REPO, "..", "shared", "data")))
    ap.add_argument("--pymarc", default=os.path.join(REPO, "..", "shared", "peers", "pymarc-5.3.1"))
    ap.add_argument("--methods", default="str,as_dict")
    ap.add_argument("-k", type=int, default=9, help="interleaved rounds")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    path = os.path.join(a.corpus, REALWORLD)
    if not os.path.exists(path):
        print(json.dumps({"skip": "realworld corpus %s not found" % path}))
        return 0
    libs = []
    if a.baseline:
        libs.append(("baseline", "marcpipe", os.path.join(os.path.abspath(a.baseline), "python")))
    libs.append(("marcpipe", "marcpipe", os.path.join(os.path.abspath(a.build), "python")))
    if os.path.isdir(os.path.join(a.pymarc, "pymarc")):
        libs.append(("pymarc", "pymarc", os.path.abspath(a.pymarc)))
    else:
        print("method_bench: SKIP pymarc: %s not found (--pymarc)" % a.pymarc, file=sys.stderr)
    methods = a.methods.split(",")
    runs = {}
    for r in range(a.k):
        for meth in methods:
            for name, lib, libdir in libs:
                p = subprocess.run([sys.executable, "-c", CHILD, lib, libdir, meth, path],
                                   capture_output=True, text=True, timeout=600)
                if p.returncode:
                    raise SystemExit("method_bench: %s %s failed: %s" % (name, meth, p.stderr[-800:]))
                runs.setdefault(meth, {}).setdefault(name, []).append(json.loads(p.stdout))
        print("method_bench: round %d/%d, load %.1f" % (r + 1, a.k, os.getloadavg()[0]), file=sys.stderr)
    res = {"file": path, "rounds": a.k, "load": os.getloadavg(), "methods": {}}
    for meth in methods:
        out = res["methods"][meth] = {}
        py = runs[meth].get("pymarc")
        for name, _, _ in libs:
            xs = runs[meth][name]
            cpu = [x["cpu_us"] for x in xs]
            wall = [x["wall_us"] for x in xs]
            row = {"cpu_us": statistics.median(cpu), "cpu_us_min": min(cpu), "cpu_us_max": max(cpu),
                   "wall_us": statistics.median(wall), "wall_us_min": min(wall),
                   "wall_us_max": max(wall), "cpu_us_rounds": cpu}
            if py and name != "pymarc":
                row["ratio_cpu"] = statistics.median(x["cpu_us"] for x in py) / row["cpu_us"]
                per = [p["cpu_us"] / x["cpu_us"] for x, p in zip(xs, py)]
                row["ratio_cpu_per_round"] = statistics.median(per)
                row["ratio_cpu_per_round_min"] = min(per)
                row["ratio_cpu_per_round_max"] = max(per)
            out[name] = row
    if a.json:
        print(json.dumps(res))
        return 0
    for meth, rows in res["methods"].items():
        for name, row in rows.items():
            line = "%-8s %-9s CPU %6.2f us [%.2f-%.2f]  wall %6.2f us [%.2f-%.2f]" % (
                meth, name, row["cpu_us"], row["cpu_us_min"], row["cpu_us_max"],
                row["wall_us"], row["wall_us_min"], row["wall_us_max"])
            if "ratio_cpu" in row:
                line += "  pymarc/this %.1fx (per round %.1fx [%.1f-%.1f])" % (
                    row["ratio_cpu"], row["ratio_cpu_per_round"], row["ratio_cpu_per_round_min"],
                    row["ratio_cpu_per_round_max"])
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
