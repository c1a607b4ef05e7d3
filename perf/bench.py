#!/usr/bin/python3
"""marcpipe perf harness driver: one command, one run, ratios side by side.

    perf/bench.py --build build --corpus ../shared/data          # full run (make bench)
    perf/bench.py --smoke --build build --out /tmp/smoke          # seconds-long sanity run (CTest)

The full run prepares the corpus (the realworld file repeated to >= --size,
or deterministic synthetic records when the corpus is absent), warms the
page cache, then runs in one go: the read()+memchr floor, the sequential
reader, the pipeline with 1..N workers, chunk-size / chunks-in-flight /
ordered sweeps, the peers (YAZ on 1..N threads, MARC::Record, pymarc and
the Python binding when present), latency, the stress scenarios, peak RSS
at --size and --big input, the per-stage capacity model, and byte ranges
(perf/ranges_bench.py: split planning of a 2 GB file, Dask on 2 worker
processes against one MARCReader, record pickling). It writes
results.json, results.csv, PNG plots (gnuplot) into --out (default
perf/out/) and regenerates the tables of perf/PERFORMANCE.md between its
GENERATED markers (not in --smoke).

The smoke run asserts sanity only: every program ran, the JSON and CSV are
well-formed, and record counts and checksums agree between the sequential
reader and every pipeline configuration. It never asserts speed.
"""
import argparse
import csv
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REALWORLD = "realworld/watson_mma_pubs_2025_04.mrc"


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - machine description is best effort
        return ""


def load():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0:3]
    except OSError:
        return []


def run_json(cmd, timeout=1800, allow_fail=False, env=None):
    """Runs a harness program, returns the JSON objects it printed (one per line)."""
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    objs = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            objs.append(json.loads(line))  # raises on malformed output: that is a failure
    if p.returncode != 0 and not allow_fail:
        raise RuntimeError("%s failed (rc %d): %s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    for o in objs:
        o.setdefault("load", load())
        o.setdefault("elapsed_s", round(time.time() - t0, 3))
    if p.returncode != 0:
        for o in objs:
            o["exit_status"] = p.returncode
        if not objs:
            objs.append({"failed": p.returncode, "stderr": p.stderr[-2000:], "cmd": " ".join(cmd)})
    return objs


class Harness:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.join(os.path.abspath(a.build), "perf")
        self.out = os.path.abspath(a.out)
        os.makedirs(self.out, exist_ok=True)
        self.results = {"meta": {}, "throughput": [], "peers": [], "latency": None, "stress": [],
                        "rss": [], "capacity": None, "ranges": [], "notes": []}
        self.failures = []

    def tool(self, name):
        p = os.path.join(self.bin, name)
        if not os.access(p, os.X_OK):
            raise SystemExit("bench: %s not built (build the perf tools: cmake --build %s)" % (p, self.a.build))
        return p

    def note(self, msg):
        log(msg)
        self.results["notes"].append(msg)

    # ---- corpus ----------------------------------------------------------------
    def prepare_corpus(self):
        a = self.a
        src = os.path.join(a.corpus, REALWORLD) if a.corpus else None
        meta = self.results["meta"]
        if a.smoke:
            self.base = os.path.join(self.out, "smoke_synth.mrc")
            run_json([self.tool("mpcorpus"), "synth", self.base, "--size", "3M", "--seed", "7",
                      "--marc8", "0.2", "--damage", "0.01"])
            self.big = self.base
            meta["corpus"] = "synthetic 3 MiB (seed 7, 20% MARC-8, 1% damaged)"
        else:
            if src and os.path.exists(src):
                self.base = src
                meta["corpus"] = "realworld %s repeated to >= %s" % (REALWORLD, a.size)
            else:
                self.base = os.path.join(self.out, "synth_base.mrc")
                run_json([self.tool("mpcorpus"), "synth", self.base, "--size", "8M", "--seed", "1",
                          "--marc8", "0.2"])
                meta["corpus"] = "synthetic (realworld corpus absent), repeated to >= %s" % a.size
                self.note("SKIP realworld corpus: %s not found; using synthetic records" % src)
            self.big = os.path.join(self.out, "corpus_%s.mrc" % a.size)
            want = parse_size(a.size)
            if not (os.path.exists(self.big) and os.path.getsize(self.big) >= want and
                    os.path.getmtime(self.big) >= os.path.getmtime(self.base)):
                run_json([self.tool("mpcorpus"), "repeat", self.base, self.big, "--repeat-to", a.size])
        self.ten = os.path.join(self.out, "ten.mrc")
        run_json([self.tool("mpcorpus"), "head", self.base, self.ten, "--records", "10"])
        # The second headline corpus: synthetic records (seeded), 20 % of them
        # MARC-8 (ANSEL diacritics, a Cyrillic escape), as large as the first.
        self.synth = os.path.join(self.out, "synth_%s.mrc" % ("3M" if a.smoke else a.size))
        if not os.path.exists(self.synth):
            run_json([self.tool("mpcorpus"), "synth", self.synth, "--size", "3M" if a.smoke else a.size,
                      "--seed", "1", "--marc8", "0.2"])
        # A second file of the same size for the two-readers run (a copy: the
        # same bytes, a different file, so the two readers share no page).
        self.big2 = os.path.join(self.out, "corpus_%s_b.mrc" % ("smoke" if a.smoke else a.size))
        if not (os.path.exists(self.big2) and os.path.getsize(self.big2) == os.path.getsize(self.big)):
            shutil.copyfile(self.big, self.big2)
        meta["corpus_file"] = self.big
        meta["corpus_bytes"] = os.path.getsize(self.big)
        meta["synth_file"] = self.synth
        meta["synth_bytes"] = os.path.getsize(self.synth)
        # Page cache: read every input once before timing anything.
        for f in (self.big, self.base, self.ten, self.synth, self.big2):
            with open(f, "rb") as fh:
                while fh.read(1 << 22):
                    pass

    # ---- measurements -----------------------------------------------------------------
    def bench(self, mode, label, extra=(), k=None, f=None):
        k = k or self.a.k
        cmd = [self.tool("mpbench"), mode, f or self.big, "-k", str(k), "--label", label] + list(extra)
        o = run_json(cmd, allow_fail=True)[0]
        o["label"] = label
        o["cmd"] = " ".join(cmd)
        if "failed" in o:
            self.failures.append("%s: %s" % (label, o))
        self.results["throughput"].append(o)
        if "best_mb_s" in o:
            log("%-28s %8.1f MB/s best, %8.1f median, %9.0f rec/s, cpu %.2fs  load %s" % (
                label, o["best_mb_s"], o["median_mb_s"], o["best_rec_s"], o["best_cpu_s"], " ".join(o["load"])))
        return o

    # The headline: each configuration once per round, rounds interleaved, so a
    # slow spell of a shared machine hits all of them alike. Every round runs
    # `mpbench MODE FILE -k 2` in a fresh process: run 1 is cold (a new process:
    # page faults of fresh buffers, threads started), run 2 warm.
    HEADLINE = (("floor", "floor", ()), ("seq", "seq", ()), ("auto", "default", ()),
                ("pipe", "pipe_t1", ("-t", "1")), ("pipe", "pipe_t2", ("-t", "2")),
                ("yaz", "yaz_t2", ("-t", "2")), ("yaz", "yaz_t1", ("-t", "1")),
                ("auto", "default_raw", ("--raw",)),
                # a consumer that reads only each record's field count (as
                # `marcpipe count`): it wants its next record again at once
                ("seq", "seq_light", ("--light",)), ("auto", "default_light", ("--light",)),
                # the same reads in a record_fn on the thread that parsed the
                # record (which drops it): no record is handed to another thread
                ("seq", "seq_callback", ("--callback",)), ("auto", "default_callback", ("--callback",)))

    def run_headline(self):
        a = self.a
        rounds = max(3, a.rounds) if not a.smoke else 1
        self.results["headline"] = {}
        for cname, f in (("realworld", self.big), ("synthetic_marc8", self.synth)):
            self.results["headline"][cname] = self.interleaved(cname, f, self.HEADLINE, rounds)

    def interleaved(self, cname, f, configs, rounds):
        """Each of `configs` once per round on file f, rounds interleaved (see HEADLINE)."""
        per = {label: [] for _, label, _ in configs}
        for _ in range(rounds):
            for mode, label, extra in configs:
                cmd = [self.tool("mpbench"), mode, f, "-k", "2", "--label", "hl_" + label] + list(extra)
                o = run_json(cmd, allow_fail=True)[0]
                if "walls" not in o:
                    if "skipped" not in o:
                        self.failures.append("%s %s: %s" % (cname, label, o))
                    continue
                per[label].append({"cold_s": o["walls"][0], "warm_s": o["walls"][1],
                                   "cold_cpu_s": o["cpus"][0], "warm_cpu_s": o["cpus"][1],
                                   "bytes": o["bytes"], "records": o["records"],
                                   "checksum": o["checksum"], "load": o["load"],
                                   "stats": o.get("stats")})
        summary = headline_summary(per, rounds)
        summary["file"] = f
        summary["bytes"] = os.path.getsize(f)
        summary["rounds"] = rounds
        for label, v in summary["configs"].items():
            log("%-15s %-8s warm median %7.1f MB/s [%7.1f-%7.1f], cpu %.3f s, cold median %7.1f MB/s" % (
                cname, label, v["warm_mb_s_median"], v["warm_mb_s_min"], v["warm_mb_s_max"],
                v["warm_cpu_s_median"], v["cold_mb_s_median"]))
        for k, v in summary["ratios"].items():
            log("%-15s %-34s median %.2f [%.2f-%.2f]" % (cname, k, v["median"], v["min"], v["max"]))
        return summary

    # MARC-8 in other scripts: every MARC-8 sample record of the shared corpus
    # (CJK in EACC, Hebrew, Cyrillic, Farsi; ../shared/data/marc8/*.marc)
    # repeated, read as the headline reads (fewer configurations, 5 rounds).
    SCRIPTS = (("floor", "floor", ()), ("seq", "seq", ()), ("auto", "default", ()),
               ("yaz", "yaz_t2", ("-t", "2")), ("auto", "default_raw", ("--raw",)))

    def run_scripts(self):
        a = self.a
        d = os.path.join(a.corpus, "marc8") if a.corpus else ""
        files = sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".marc")) \
            if d and os.path.isdir(d) else []
        if not files:
            self.note("SKIP MARC-8 scripts: no MARC-8 samples under %s" % (d or "(no corpus)"))
            return
        base = os.path.join(self.out, "scripts_base.mrc")
        with open(base, "wb") as out:
            for f in files:
                with open(f, "rb") as fh:
                    out.write(fh.read())
        size = "2M" if a.smoke else "40M"
        big = os.path.join(self.out, "scripts_%s.mrc" % size)
        run_json([self.tool("mpcorpus"), "repeat", base, big, "--repeat-to", size])
        with open(big, "rb") as fh:
            while fh.read(1 << 22):
                pass
        s = self.interleaved("marc8_scripts", big, self.SCRIPTS, 1 if a.smoke else 5)
        s["samples"] = [os.path.basename(f) for f in files]
        self.results["scripts"] = s

    # Paired runs: `mpbench paired FILE -k K` runs the sequential and the
    # default reader alternately in one process (the order flips every pair),
    # so the two runs of a pair lie a few hundred ms apart. This machine's
    # speed drifts by up to 1.5x over seconds (a shared host), more than the
    # effect being measured; the headline's rounds are fresh processes
    # seconds apart, so a pair there can straddle a slow and a fast spell.
    PAIRS_PER_PROCESS = 8

    def run_paired(self):
        a = self.a
        procs = max(3, a.rounds) if not a.smoke else 1
        k = self.PAIRS_PER_PROCESS if not a.smoke else 2
        self.results["paired"] = {}
        for cname, f in (("realworld", self.big), ("synthetic_marc8", self.synth)):
            walls, cpus, seq_cpu, def_cpu = [], [], [], []
            for _ in range(procs):
                o = run_json([self.tool("mpbench"), "paired", f, "-k", str(k)], allow_fail=True)[0]
                if "seq_walls" not in o:
                    self.failures.append("paired %s: %s" % (cname, o))
                    break
                for sw, dw, sc, dc in zip(o["seq_walls"], o["default_walls"], o["seq_cpus"], o["default_cpus"]):
                    walls.append(sw / dw)
                    cpus.append(dc / sc)
                    seq_cpu.append(sc)
                    def_cpu.append(dc)
            if not walls:
                continue
            res = {"file": f, "processes": procs, "pairs_per_process": k, "pairs": len(walls),
                   "speed": quartiles(walls), "cpu": quartiles(cpus),
                   "seq_cpu_s": quartiles(seq_cpu), "default_cpu_s": quartiles(def_cpu),
                   "by_spell": spells(seq_cpu, def_cpu, walls, cpus)}
            self.results["paired"][cname] = res
            log("paired %-15s %d pairs: speed %.2f [q %.2f-%.2f, %.2f-%.2f], cpu %.2f [q %.2f-%.2f, %.2f-%.2f]" % (
                (cname, len(walls)) + tuple(res["speed"][x] for x in ("median", "p25", "p75", "min", "max")) +
                tuple(res["cpu"][x] for x in ("median", "p25", "p75", "min", "max"))))

    def run_cli(self):
        """The command-line tool as a user runs it, process start included:
        `marcpipe count FILE` and `marcpipe count --sequential FILE`
        alternately (the order flipping every pair, a first pair not
        counted), each run's wall clock and CPU (getrusage of the children);
        the ratios are per pair."""
        cli = os.path.join(os.path.abspath(self.a.build), "stages", "cli", "marcpipe")
        if not os.access(cli, os.X_OK):
            self.failures.append("cli: %s not built" % cli)
            return
        pairs = 2 if self.a.smoke else 3 * max(3, self.a.rounds)
        runs, outs = {"default": [], "sequential": []}, {}
        for i in range(pairs + 1):
            for name in (("default", "sequential") if i % 2 == 0 else ("sequential", "default")):
                cmd = [cli, "count"] + (["--sequential"] if name == "sequential" else []) + [self.big]
                r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                if p.returncode not in (0, 1):  # 1: error items found (the smoke corpus has some)
                    self.failures.append("cli: %s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr[-300:]))
                    return
                outs[name] = (p.returncode, p.stdout.strip())
                if i:
                    runs[name].append((t1 - t0, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
        if outs["default"] != outs["sequential"]:
            self.failures.append("cli: count %r, --sequential %r" % (outs["default"], outs["sequential"]))
        d, q = runs["default"], runs["sequential"]
        res = {"file": self.big, "pairs": pairs, "count": outs["default"][1], "exit": outs["default"][0],
               "speed": quartiles([b[0] / a[0] for a, b in zip(d, q)]),
               "cpu": quartiles([a[1] / b[1] for a, b in zip(d, q)]),
               "default_s": quartiles([a[0] for a in d]), "sequential_s": quartiles([b[0] for b in q])}
        self.results["cli"] = res
        log("cli: count / count --sequential, %d pairs: speed %.2f [q %.2f-%.2f], cpu %.2f [q %.2f-%.2f]" % (
            pairs, res["speed"]["median"], res["speed"]["p25"], res["speed"]["p75"], res["cpu"]["median"],
            res["cpu"]["p25"], res["cpu"]["p75"]))

    def run_probe(self):
        """Core-to-core hand-off cost of this machine (cache-line ping-pong), so that
        figures from different machines can be read side by side."""
        o = run_json([self.tool("mpbench"), "pingpong", "-", "-k", "3" if self.a.smoke else "7"],
                     allow_fail=True)[0]
        self.results["probe"] = o
        if "one_way_ns_median" in o:
            log("probe: core-to-core one-way hand-off %.0f ns median [%.0f-%.0f]" % (
                o["one_way_ns_median"], o["one_way_ns_min"], o["one_way_ns_max"]))

    def run_pair(self):
        """Two readers on two files at once on one shared pool, against reading them
        one after the other (sequential reader; default reader on that pool)."""
        # Three times the usual rounds: a round takes about a second.
        k = "1" if self.a.smoke else str(max(3, 3 * self.a.rounds))
        o = run_json([self.tool("mpbench"), "pair", self.big, self.big2, "-k", k, "-t",
                      str(max(1, (os.cpu_count() or 2) - 1))], allow_fail=True)[0]
        self.results["pair"] = o
        v = o.get("variants")
        if v:
            # Per round: the variants of a round ran back to back, so their ratio is
            # steadier than a ratio of medians on a host whose speed drifts. "round":
            # both at once on the pool; "ceiling": two sequential readers at once, a
            # thread each (what two threads get from the machine); "own": two default
            # readers at once, each with its own private pool.
            s_ = v["seq_serial"]

            def spread(xs):
                xs = sorted(xs)
                return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1]}

            for key, variant in (("round", "pool_parallel"), ("ceiling", "seq_parallel"),
                                 ("own", "own_parallel")):
                q_ = v.get(variant)
                if q_:
                    o[key + "_ratio_wall"] = spread(a / b for a, b in zip(s_["walls"], q_["walls"]))
                    o[key + "_ratio_cpu"] = spread(b / a for a, b in zip(s_["cpus"], q_["cpus"]))
            # The pipeline's own share, per round: the default reader's CPU for the
            # two files one after the other (on the pool: one worker + the reader's
            # thread, both busy) over two sequential readers at once (two busy
            # threads, nothing shared). Both pay what two busy threads cost on this
            # host at that moment; the ratio is what the pipeline adds to that.
            ps_, sp_ = v.get("pool_serial"), v.get("seq_parallel")
            if ps_ and sp_:
                o["own_share_cpu"] = spread(a / b for a, b in zip(ps_["cpus"], sp_["cpus"]))
                o["pool_serial_cpu"] = spread(a / b for a, b in zip(ps_["cpus"], s_["cpus"]))
            o["ratio_parallel_vs_seq_serial"] = v["seq_serial"]["median_s"] / v["pool_parallel"]["median_s"]
            o["ratio_parallel_vs_pool_serial"] = v["pool_serial"]["median_s"] / v["pool_parallel"]["median_s"]
            if "own_share_cpu" in o:
                log("pair: the pipeline's own share (default reader's CPU / two sequential readers at once) "
                    "%.3f [%.2f-%.2f] per round" % (o["own_share_cpu"]["median"], o["own_share_cpu"]["min"],
                                                    o["own_share_cpu"]["max"]))
            log("pair: at once on one pool %.3f s, one after the other %.3f s (sequential reader) / %.3f s "
                "(default reader on the pool): %.2fx / %.2fx" % (
                    v["pool_parallel"]["median_s"], v["seq_serial"]["median_s"], v["pool_serial"]["median_s"],
                    o["ratio_parallel_vs_seq_serial"], o["ratio_parallel_vs_pool_serial"]))
        else:
            self.failures.append("pair: %s" % o)

    def run_throughput(self):
        a = self.a
        ncpu = os.cpu_count() or 2
        self.maxw = a.max_workers or max(4, 2 * ncpu)
        workers = list(range(1, self.maxw + 1)) if not a.smoke else [1, 2]
        self.bench("floor", "floor")
        self.bench("seq", "seq")
        self.bench("auto", "default")
        for t in workers:
            self.bench("pipe", "pipe_t%d" % t, ["-t", str(t)])
        for t in workers:
            self.bench("yaz", "yaz_t%d" % t, ["-t", str(t)])
        ks = max(1, min(3, a.k))
        chunks = ["64K", "256K", "512K", "1M", "4M"] if not a.smoke else ["4K", "64K"]
        if not a.smoke:
            chunks = ["16K", "64K", "128K", "256K", "512K", "1M", "2M", "4M"]
        for c in chunks:
            self.bench("pipe", "chunk_%s" % c, ["-t", "2", "-c", c], k=ks)
        for T in ([2, 4, 8, 16, 32] if not a.smoke else [2, 8]):
            self.bench("pipe", "inflight_%d" % T, ["-t", "2", "-T", str(T)], k=ks)
        self.bench("pipe", "unordered_t2", ["-t", "2", "-u"], k=ks)
        self.bench("pipe", "shared_pool_t2", ["-t", "2", "--pool"], k=ks)
        self.bench("pipe", "mem_t2", ["-t", "2", "--mem"], k=ks)
        self.bench("pipe", "raw_t2", ["-t", "2", "--raw"], k=ks)
        self.bench("seq", "seq_raw", ["--raw"], k=ks)
        if a.smoke:
            real = os.path.join(a.corpus, REALWORLD) if a.corpus else ""
            if real and os.path.exists(real):
                self.bench("seq", "real_seq", f=real, k=1)
                self.bench("pipe", "real_pipe_t2", ["-t", "2"], f=real, k=1)
            else:
                print("SKIP: realworld corpus absent (%s); set MARCPIPE_CORPUS" % real)

    def run_peers(self):
        a = self.a
        peers = self.results["peers"]
        if shutil.which("perl") and subprocess.run(["perl", "-MMARC::Record", "-e1"],
                                                   capture_output=True).returncode == 0:
            o = run_json(["perl", os.path.join(HERE, "peer_marc_record.pl"), self.base,
                          "1" if a.smoke else "3"], allow_fail=True)[0]
            peers.append(o)
            # Same file through our sequential reader for a like-for-like ratio.
            o2 = self.bench("seq", "seq_on_peer_file", f=self.base, k=3)
            o["ratio_seq_vs_peer"] = ratio(o2.get("best_mb_s"), o.get("best_mb_s"))
        else:
            self.note("SKIP MARC::Record: perl -MMARC::Record failed (Debian: libmarc-record-perl)")
        self.run_python()

    def run_python(self):
        """`for r in MARCReader(path): r.title` against pymarc 5.3.1 on a ~20 MB and the
        --size corpus (perf/py_bench.py: fresh interpreters, interleaved rounds)."""
        a = self.a
        pyb = os.path.join(HERE, "py_bench.py")
        pydir = os.path.join(os.path.abspath(a.build), "python")
        self.results["python"] = []
        if a.smoke:
            return  # the binding has its own pytest suites; keep the smoke run short
        if not os.path.isdir(pydir):
            self.note("SKIP Python binding: %s absent (configure with -DMP_BUILD_PYTHON=ON)" % pydir)
            return
        small = os.path.join(self.out, "corpus_20M.mrc")
        if not os.path.exists(small):
            run_json([self.tool("mpcorpus"), "repeat", self.base, small, "--repeat-to", "20M"])
        env = dict(os.environ, PYTHONPATH=pydir + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run([sys.executable, pyb, "--file", small, "--file", self.big, "--rounds",
                            str(max(3, a.rounds))], capture_output=True, text=True, timeout=3600, env=env)
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                o = json.loads(line)
                self.results["python"].append(o)
                if "ratio_median" in o:
                    log("python %s: marcpipe %.0f rec/s, pymarc %.0f rec/s: %.1fx [%.1f-%.1f]" % (
                        os.path.basename(o["file"]), o["marcpipe_rec_s_median"], o["pymarc_rec_s_median"],
                        o["ratio_median"], o["ratio_min"], o["ratio_max"]))
                elif "note" in o:
                    self.note("python %s: %s" % (os.path.basename(o["file"]), o["note"]))
        if p.returncode != 0 or not self.results["python"]:
            self.failures.append("py_bench.py failed (rc %d): %s" % (p.returncode, (p.stdout + p.stderr)[-600:]))

    # ---- input formats ---------------------------------------------------------------
    PY_XML = ("import sys, time, json\n"
              "mod = __import__(sys.argv[1]); path = sys.argv[2]; k = int(sys.argv[3])\n"
              "ts = []\n"
              "for _ in range(k):\n"
              "    t = time.perf_counter(); recs = mod.parse_xml_to_array(path)\n"
              "    n = len(recs); titles = sum(1 for r in recs if r.title)\n"
              "    ts.append(time.perf_counter() - t)\n"
              "    del recs\n"
              "ts.sort()\n"
              "print(json.dumps({'records': n, 'titles': titles, 'best_s': ts[0], 'median_s': ts[len(ts) // 2],"
              " 'runs_s': ts}))\n")

    def _wall(self, cmd, k):
        """Best wall time of k runs of a command (output discarded)."""
        best = None
        for _ in range(k):
            t = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
            dt = time.perf_counter() - t
            if p.returncode != 0:
                self.failures.append("%s failed (rc %d)" % (" ".join(cmd), p.returncode))
                return None
            best = dt if best is None or dt < best else best
        return best

    def run_formats(self):
        """MARCXML read on one >= 100 MB MARCXML file made by yaz-marcdump from the realworld
        corpus: marcpipe's pipeline (2 workers) and sequential reader against
        `yaz-marcdump -i marcxml` (both `-o marc` and `-n`, parse only), in interleaved
        rounds; the Python binding's parse_xml_to_array against pymarc 5.3.1's (best of k
        and one run); MARC-in-JSON the same way, for information."""
        a = self.a
        fm = self.results["formats"] = {}
        real = os.path.join(a.corpus, REALWORLD) if a.corpus else ""
        yaz = shutil.which("yaz-marcdump")
        if not yaz or not os.path.exists(real):
            self.note("SKIP input formats: yaz-marcdump or %s absent" % real)
            return
        iso = os.path.join(self.out, "formats_src.mrc")
        if a.smoke:
            run_json([self.tool("mpcorpus"), "head", real, iso, "--records", "300"])
        elif not (os.path.exists(iso) and os.path.getsize(iso) >= parse_size("42M")):
            run_json([self.tool("mpcorpus"), "repeat", real, iso, "--repeat-to", "42M"])
        files = {}
        for fmt, ext in (("marcxml", "xml"), ("json", "json")):
            out = os.path.join(self.out, "formats.%s" % ext)
            if a.smoke or not (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(iso)):
                with open(out, "wb") as f:
                    subprocess.run([yaz, "-o", fmt, iso], stdout=f, check=True, timeout=1800)
            with open(out, "rb") as fh:  # page cache
                while fh.read(1 << 22):
                    pass
            files[fmt] = out
        fm["files"] = {k: {"path": v, "bytes": os.path.getsize(v)} for k, v in files.items()}
        k = 1 if a.smoke else max(a.rounds, 5)  # as many interleaved rounds as the headline (7)
        best = {}
        walls = {}  # label -> warm wall seconds, one per round (rounds interleaved)

        def keep(label, o, wall):
            walls.setdefault(label, []).append(wall)
            if "best_mb_s" in o and (label not in best or o["best_mb_s"] > best[label]["best_mb_s"]):
                best[label] = o

        for _ in range(k):
            for fmt, f in files.items():
                for mode, tag, extra in (("auto", "default", []), ("pipe", "pipe_t2", ["-t", "2"]),
                                         ("seq", "seq", [])):
                    label = "%s_%s" % (fmt, tag)
                    o = run_json([self.tool("mpbench"), mode, f, "-k", "2", "--label", label] + extra,
                                 allow_fail=True)[0]
                    if "walls" in o:
                        keep(label, o, o["walls"][-1])
                size = os.path.getsize(f)
                for variant, args in (("yaz_marc", ["-o", "marc"]), ("yaz_n", ["-n"])):
                    label = "%s_%s" % (fmt, variant)
                    w = self._wall([yaz, "-i", fmt] + args + [f], 1)
                    if w:
                        keep(label, {"label": label, "best_s": w, "best_mb_s": size / 1e6 / w,
                                     "cmd": " ".join([yaz, "-i", fmt] + args + [f])}, w)
        fm["runs"] = best
        fm["walls"] = walls
        fm["rounds"] = k
        # Ratios per round (the configurations of a round ran back to back), then
        # median [min-max] over the rounds.
        fm["ratios"] = {}
        for fmt in files:
            for num, den in (("default", "seq"), ("pipe_t2", "seq"), ("default", "yaz_marc"),
                             ("default", "yaz_n")):
                a_, b_ = walls.get("%s_%s" % (fmt, num)), walls.get("%s_%s" % (fmt, den))
                if a_ and b_ and len(a_) == len(b_):
                    r = sorted(y / x for x, y in zip(a_, b_))
                    fm["ratios"]["%s %s/%s" % (fmt, num, den)] = {
                        "median": statistics.median(r), "min": r[0], "max": r[-1]}
        for label, ws in sorted(walls.items()):
            size = fm["files"][label.split("_")[0]]["bytes"]
            log("formats %-18s %8.1f MB/s median [%.1f-%.1f] of %d interleaved rounds" % (
                label, size / 1e6 / statistics.median(ws), size / 1e6 / max(ws), size / 1e6 / min(ws), k))
        for key, v in sorted(fm["ratios"].items()):
            log("formats %-28s median %.2f [%.2f-%.2f]" % (key, v["median"], v["min"], v["max"]))
        for fmt in files:
            p, s = best.get(fmt + "_pipe_t2"), best.get(fmt + "_seq")
            if p and s and (p.get("records"), p.get("checksum")) != (s.get("records"), s.get("checksum")):
                self.failures.append("%s: pipeline and sequential reader disagree" % fmt)
        # The records YAZ reads back from the XML, through our ISO 2709 reader.
        back = os.path.join(self.out, "formats_back.mrc")
        with open(back, "wb") as f:
            subprocess.run([yaz, "-i", "marcxml", "-o", "marc", files["marcxml"]], stdout=f, timeout=1800)
        o = run_json([self.tool("mpbench"), "seq", back, "-k", "1"], allow_fail=True)[0]
        px = best.get("marcxml_pipe_t2")
        fm["yaz_records"] = o.get("records")
        if px and o.get("records") != px.get("records"):
            self.failures.append("MARCXML: marcpipe read %s records, YAZ %s" % (px.get("records"), o.get("records")))
        os.unlink(back)
        # Python: parse_xml_to_array, marcpipe vs pymarc, in interleaved rounds (pymarc
        # once, then marcpipe k times, per round): per-round ratios of pymarc's time to
        # marcpipe's median, then their median [min-max].
        pydir = os.path.join(os.path.abspath(a.build), "python")
        peers = os.path.join(a.corpus or "", "..", "peers", "pymarc-5.3.1")
        libs = [("pymarc", os.path.abspath(peers), 1), ("marcpipe", pydir, k)]
        for mod, path, _ in libs:
            if not os.path.isdir(path):
                self.note("SKIP %s parse_xml_to_array: %s absent" % (mod, path))
        libs = [x for x in libs if os.path.isdir(x[1])]
        py_rounds = 1 if a.smoke else 3
        runs = {}
        for _ in range(py_rounds):
            for mod, path, kk in libs:
                env = dict(os.environ, PYTHONPATH=path)
                r = run_json([sys.executable, "-c", self.PY_XML, mod, files["marcxml"], str(kk)],
                             allow_fail=True, env=env)[0]
                if "best_s" in r:
                    runs.setdefault(mod, []).append(r)
        size = os.path.getsize(files["marcxml"])
        for mod, rs in runs.items():
            all_s = sorted(t for r in rs for t in r.get("runs_s", [r["best_s"]]))
            o = dict(rs[-1])
            o["runs_s"] = all_s
            o["round_medians_s"] = [r.get("median_s", r["best_s"]) for r in rs]
            o["best_s"] = all_s[0]
            o["median_s"] = statistics.median(all_s)
            o["best_mb_s"] = size / 1e6 / o["best_s"]
            o["median_mb_s"] = size / 1e6 / o["median_s"]
            fm["py_" + mod] = o
            log("formats python %-9s parse_xml_to_array %8.2f MB/s median of %d runs in %d rounds (best %.2f; %d records)" % (
                mod, o["median_mb_s"], len(all_s), len(rs), o["best_mb_s"], o["records"]))
        if len(runs.get("pymarc", [])) == len(runs.get("marcpipe", [])) > 0:
            rr = sorted(p / m for p, m in zip(fm["py_pymarc"]["round_medians_s"],
                                              fm["py_marcpipe"]["round_medians_s"]))
            fm["py_ratio"] = {"median": statistics.median(rr), "min": rr[0], "max": rr[-1],
                              "rounds": len(rr)}
            log("formats python parse_xml_to_array pymarc/marcpipe median %.1f [%.1f-%.1f] of %d rounds" % (
                fm["py_ratio"]["median"], rr[0], rr[-1], len(rr)))

    def run_writers(self):
        """perf/write_bench.py: convert vs yaz-marcdump, the ISO 2709 copy, the
        Python writers vs pymarc (not in the smoke run)."""
        if self.a.smoke:
            return
        wb = os.path.join(HERE, "write_bench.py")
        cmd = [sys.executable, wb, "--build", os.path.abspath(self.a.build), "--corpus",
               self.a.corpus or "", "--out", self.out, "--file", self.big, "-k", str(self.a.k)]
        o = run_json(cmd, timeout=7200, allow_fail=True)[0]
        if "failed" in o:
            self.failures.append("write_bench: %s" % o)
        self.results["writers"] = o

    def run_latency(self):
        n = "50" if self.a.smoke else "2000"
        o = run_json([self.tool("mpbench"), "latency", self.ten, "-n", n, "-t", "2"], allow_fail=True)[0]
        self.results["latency"] = o
        for s in o.get("series", []):
            log("latency %-24s open+read+close median %.1f us p99 %.1f us; first record median %.1f us" % (
                s["variant"], s["total_us_median"], s["total_us_p99"], s["first_us_median"]))

    def run_stress(self):
        a = self.a
        secs = "0.3" if a.smoke else str(a.stress_seconds)
        objs = run_json([self.tool("mpstress"), "--seconds", secs, "--corpus", self.base,
                         "slow", "bursty", "early_close", "many", "tiny"], allow_fail=True)
        self.results["stress"] = objs
        for o in objs:
            log("stress %-12s ok=%s %s" % (o.get("scenario"), o.get("ok"), json.dumps(o)[:160]))
            if o.get("ok") is not True:
                self.failures.append("stress %s: %s" % (o.get("scenario"), o))
        sizes = ["24M"] if a.smoke else [a.size, a.big]
        for s in sizes:
            csvp = os.path.join(self.out, "occupancy_%s.csv" % s)
            o = run_json([self.tool("mpstress"), "--corpus", self.base, "--big", s, "--csv", csvp,
                          "big"], allow_fail=True)[0]
            o["csv"] = csvp
            o["input"] = "callback, %s" % s
            self.results["rss"].append(o)
            log("rss big %s: peak %.1f MiB above baseline (ok=%s)" % (
                s, o.get("peak_above_baseline_kib", -1) / 1024.0, o.get("ok")))
            if o.get("ok") is not True:
                self.failures.append("rss %s: %s" % (s, o))
        o = run_json([self.tool("mpstress"), "--corpus", self.base, "--file", self.big, "file"],
                     allow_fail=True)[0]
        o["input"] = "file %s" % os.path.basename(self.big)
        self.results["rss"].append(o)
        if o.get("ok") is not True:
            self.failures.append("rss file: %s" % o)

    def run_ranges(self):
        """perf/ranges_bench.py: split planning (2 GB), Dask vs one reader, pickling."""
        a = self.a
        rb = os.path.join(HERE, "ranges_bench.py")
        cmd = [sys.executable, rb, "--build", a.build, "--corpus", a.corpus or "",
               "--out", self.out, "-k", str(max(1, min(3, a.k)))]
        if a.smoke:
            cmd.append("--smoke")
        objs = run_json(cmd, timeout=3600, allow_fail=True)
        self.results["ranges"] = objs
        for o in objs:
            if "failed" in o:
                self.failures.append("ranges: %s" % o)
            elif "skipped" in o:
                self.note("SKIP ranges %s: %s" % (o.get("bench"), o["skipped"]))

    # ---- analysis ------------------------------------------------------------------
    def by_label(self, label):
        for o in self.results["throughput"]:
            if o.get("label") == label and "best_mb_s" in o:
                return o
        return None

    def analyse(self):
        seq = self.by_label("seq")
        for o in self.results["throughput"]:
            if "best_mb_s" not in o:
                continue
            o["ratio_vs_seq"] = ratio(o["best_mb_s"], seq and seq["best_mb_s"])
            t = o.get("threads") or 1
            y = self.by_label("yaz_t%d" % t)
            o["ratio_vs_yaz_same_threads"] = ratio(o["best_mb_s"], y and y["best_mb_s"])
        # Per-stage capacity from the 2-worker pipeline's stats (cpu_ns per stage).
        p = self.by_label("pipe_t2") or self.by_label("pipe_t1")
        if p and "stats" in p:
            st = p["stats"]["stages"]
            nbytes = p["bytes"]
            cap = {}
            for name in ("producer", "scanner", "parser", "consumer"):
                ns = st[name]["cpu_ns"]
                cap[name] = (nbytes / 1e6) / (ns / 1e9) if ns > 0 else None
            pred = {}
            for n in (1, 2, 4, 8, 16, 32, 64):
                vals = [v for v in (cap["producer"], cap["scanner"], cap["consumer"]) if v]
                if cap["parser"]:
                    vals.append(n * cap["parser"])
                pred[str(n)] = min(vals) if vals else None
            serial = {k: v for k, v in cap.items() if k != "parser" and v}
            bottleneck_at_64 = min(serial, key=serial.get) if serial else None
            self.results["capacity"] = {
                "source": p["label"], "bytes": nbytes, "stage_cpu_s": {k: st[k]["cpu_ns"] / 1e9 for k in st},
                "capacity_mb_s": cap, "predicted_mb_s": pred,
                "measured_mb_s": {str(o.get("threads")): o["best_mb_s"] for o in self.results["throughput"]
                                  if o.get("label", "").startswith("pipe_t") and "best_mb_s" in o},
                "serial_bottleneck": bottleneck_at_64,
                "assumptions": ("one worker's capacity = all input bytes / parser CPU seconds summed over "
                                "workers (per-worker speed); serial stages run on their own core; no memory-"
                                "bandwidth or cache limits; the consumer's cost is the harness loop (field "
                                "count + 245) plus reordering and releases; producer is read() from the page cache"),
            }

    def smoke_checks(self):
        seq = self.by_label("seq")
        if not seq:
            self.failures.append("sequential reader produced no result")
            return
        for o in self.results["throughput"]:
            if o.get("mode") == "pipe" and "records" in o and o.get("raw") == 0 and o.get("file") == seq.get("file"):
                if (o["records"], o["errors"], o["checksum"]) != (seq["records"], seq["errors"], seq["checksum"]):
                    self.failures.append("count mismatch %s: %s/%s/%s vs seq %s/%s/%s" % (
                        o["label"], o["records"], o["errors"], o["checksum"],
                        seq["records"], seq["errors"], seq["checksum"]))
        raw = [o for o in self.results["throughput"] if o.get("raw") == 1 and "records" in o
               and o.get("file") == seq.get("file")]
        for o in raw[1:]:
            if o["records"] + o["errors"] != raw[0]["records"] + raw[0]["errors"]:
                self.failures.append("raw count mismatch %s" % o["label"])
        rs, rp = self.by_label("real_seq"), self.by_label("real_pipe_t2")
        if rs and rp and (rs["records"], rs["errors"], rs["checksum"]) != (rp["records"], rp["errors"], rp["checksum"]):
            self.failures.append("realworld count mismatch: seq %s/%s vs pipe %s/%s" % (
                rs["records"], rs["errors"], rp["records"], rp["errors"]))
        fl = self.by_label("floor")
        if fl and seq["bytes"] != fl["bytes"]:
            self.failures.append("bytes consumed %s != file size %s" % (seq["bytes"], fl["bytes"]))
        lat = self.results["latency"] or {}
        for s in lat.get("series", []):
            if s.get("failures"):
                self.failures.append("latency %s: %d failures" % (s["variant"], s["failures"]))
        # Every reader configuration of the headline read the same records.
        corpora = dict(self.results.get("headline") or {})
        if self.results.get("scripts"):
            corpora["marc8_scripts"] = self.results["scripts"]
        for cname, h in corpora.items():
            cf = h.get("configs", {})
            # Each configuration against the sequential reader with the same
            # consumer: same records, same checksum (--callback keeps none: 0).
            for label, rlabel in (("default", "seq"), ("pipe_t1", "seq"), ("pipe_t2", "seq"),
                                  ("default_light", "seq_light"), ("default_callback", "seq_callback"),
                                  ("seq_callback", "seq")):
                o, ref = cf.get(label), cf.get(rlabel)
                if not (ref and o):
                    continue
                want = (ref["records"], 0 if label == "seq_callback" else ref["checksum"])
                if (o["records"], o["checksum"]) != want:
                    self.failures.append("headline %s: %s read %s/%s, %s %s/%s" % (
                        cname, label, o["records"], o["checksum"], rlabel, want[0], want[1]))
        pair = self.results.get("pair") or {}
        if pair.get("variants") and seq and pair["records"] != 2 * seq["records"] + 0 * seq["errors"]:
            self.failures.append("pair: %s records, expected 2 x %s" % (pair["records"], seq["records"]))

    # ---- outputs -------------------------------------------------------------------
    def write(self):
        meta = self.results["meta"]
        json_path = os.path.join(self.out, "results.json")
        with open(json_path, "w") as f:
            json.dump(self.results, f, indent=1)
        json.load(open(json_path))  # well-formed
        csv_path = os.path.join(self.out, "results.csv")
        cols = ["label", "mode", "threads", "chunk", "inflight", "ordered", "pool", "mem", "raw", "runs",
                "bytes", "records", "errors", "best_mb_s", "median_mb_s", "best_rec_s", "median_rec_s",
                "best_cpu_s", "ratio_vs_seq", "ratio_vs_yaz_same_threads", "load"]
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for o in self.results["throughput"]:
                if "best_mb_s" in o:
                    w.writerow([" ".join(o[c]) if c == "load" else o.get(c, "") for c in cols])
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        if not rows or any(r["best_mb_s"] == "" for r in rows):
            self.failures.append("results.csv malformed")
        self.plots()
        meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        with open(json_path, "w") as f:
            json.dump(self.results, f, indent=1)

    def plots(self):
        if not shutil.which("gnuplot"):
            self.note("SKIP plots: gnuplot not installed (Debian: gnuplot-nox)")
            return
        thr = self.results["throughput"]

        def dat(name, rows):
            p = os.path.join(self.out, name)
            with open(p, "w") as f:
                for r in rows:
                    f.write(" ".join(str(x) for x in r) + "\n")
            return p

        def series(prefix, key):
            return [(o[key], o["best_mb_s"], o["median_mb_s"]) for o in thr
                    if o.get("label", "").startswith(prefix) and "best_mb_s" in o]
        pw = dat("workers.dat", series("pipe_t", "threads"))
        yw = dat("yaz.dat", series("yaz_t", "threads"))
        seq = self.by_label("seq")
        fl = self.by_label("floor")
        cw = dat("chunk.dat", [(o["chunk"] / 1024, o["best_mb_s"], o["median_mb_s"]) for o in thr
                               if o.get("label", "").startswith("chunk_") and "best_mb_s" in o])
        iw = dat("inflight.dat", series("inflight_", "inflight"))
        hl = ""
        if seq:
            hl += ", %f title 'sequential reader' lw 2 dt 2" % seq["best_mb_s"]
        if fl:
            hl += ", %f title 'read()+memchr floor' lw 2 dt 3" % fl["best_mb_s"]
        script = """
set terminal pngcairo size 900,560 noenhanced
set grid
set key top left
set output '{out}/throughput_vs_workers.png'
set title 'Full parse throughput vs workers ({corpus})'
set xlabel 'workers / threads'
set ylabel 'MB/s (best of K)'
set logscale y
plot '{pw}' using 1:2 with linespoints lw 2 title 'marcpipe pipeline', '{yw}' using 1:2 with linespoints lw 2 title 'YAZ yaz_marc_read_iso2709'{hl}
unset logscale y
set output '{out}/throughput_vs_chunk.png'
set title 'Pipeline (2 workers) vs chunk size'
set xlabel 'chunk size (KiB)'
set logscale x 2
plot '{cw}' using 1:2 with linespoints lw 2 title 'best', '{cw}' using 1:3 with linespoints title 'median'
unset logscale x
set output '{out}/throughput_vs_inflight.png'
set title 'Pipeline (2 workers) vs chunks in flight (T)'
set xlabel 'chunks in flight T'
set logscale x 2
plot '{iw}' using 1:2 with linespoints lw 2 title 'best', '{iw}' using 1:3 with linespoints title 'median'
unset logscale x
""".format(out=self.out, pw=pw, yw=yw, cw=cw, iw=iw, hl=hl,
           corpus=os.path.basename(self.big))
        for o in self.results["rss"]:
            c = o.get("csv")
            if c and os.path.exists(c) and os.path.getsize(c) > 100:
                tag = os.path.basename(c)[:-4]
                script += """
set output '{out}/{tag}.png'
set title 'Ring occupancy and RSS over time ({inp})'
set xlabel 'seconds'
set ylabel 'chunks'
set y2label 'RSS (MiB)'
set y2tics
set key top right
plot '{c}' every ::1 using 1:2 with lines lw 2 title 'chunks in flight', '{c}' every ::1 using 1:3 with lines title 'filled ring (producer->scanner)', '{c}' every ::1 using 1:4 with lines title 'scanned ring + parsing', '{c}' every ::1 using 1:($6/1024) axes x1y2 with lines lw 2 title 'VmRSS'
unset y2tics
unset y2label
""".replace("{out}", self.out).replace("{tag}", tag).replace("{c}", c).replace("{inp}", o.get("input", ""))
        script = "set datafile separator whitespace\n" + script
        # The occupancy CSV uses commas.
        script = script.replace("plot '%s" % os.path.join(self.out, "occupancy"),
                                "set datafile separator ','\nplot '%s" % os.path.join(self.out, "occupancy"))
        gp = os.path.join(self.out, "plots.gp")
        with open(gp, "w") as f:
            f.write(script)
        p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if p.returncode != 0:
            self.note("gnuplot failed: %s" % p.stderr[-500:])

    def markdown(self):
        r = self.results
        m = r["meta"]
        L = []
        L.append("Generated by `perf/bench.py` on %s — corpora: %s (%.1f MB) and synthetic records with 20 %% "
                 "MARC-8 (%.1f MB); headline: %d interleaved rounds; sweeps: K = %d runs per point." % (
                     m.get("finished", m.get("started")), m.get("corpus"), m.get("corpus_bytes", 0) / 1e6,
                     m.get("synth_bytes", 0) / 1e6, max(3, self.a.rounds), self.a.k))
        L.append("Machine: %s; %s CPUs; kernel %s. Load (1/5/15 min) at start: %s; at end: %s." % (
            m.get("cpu_model"), m.get("cpus"), m.get("kernel"), " ".join(m.get("load_start", [])),
            " ".join(m.get("load_end", []))))
        pr = r.get("probe") or {}
        if "one_way_ns_median" in pr:
            L.append("Core-to-core hand-off (cache-line ping-pong between CPUs %s, one way): **%.0f ns** median "
                     "[%.0f-%.0f] — read figures from other machines against this." % (
                         "/".join(str(c) for c in pr.get("cpus", [])), pr["one_way_ns_median"],
                         pr["one_way_ns_min"], pr["one_way_ns_max"]))
        L.append("")
        L.append("### Targets")
        L.append("")
        L.append("Each ratio is computed per round (the configurations of a round ran back to back) and given "
                 "as the **median over rounds [min-max]**; `default` is the reader with default options "
                 "(`MP_MODE_AUTO`: here the pipeline with usable CPUs - 1 workers plus the consumer thread), "
                 "`pipe_t2` the pipeline forced with 2 workers (+ the consumer), warm = the second run in a "
                 "process, cold = the first (fresh buffers, threads started); \"light consumer\": the harness reads "
                 "only each record's field count (`--light`); \"reads in a record_fn\": the harness's reads run in a "
                 "`record_fn` on the thread that parsed the record, which drops it (`--callback`: no record is "
                 "handed to the reader's thread). \"Paired runs\": `mpbench paired` "
                 "runs the sequential and the default reader alternately in one process (%d pairs per process, "
                 "%d processes, the order flipping every pair), so the two runs of a pair lie a few hundred ms apart "
                 "and a slow spell of the shared host (seconds long) hits both; median [quartiles; min-max] over all "
                 "pairs." % (self.PAIRS_PER_PROCESS, max(3, self.a.rounds)))
        L.append("")
        L.append("| figure | corpus | median [min-max] | target | met |")
        L.append("|---|---|---|---|---|")
        hl = r.get("headline") or {}
        checks = (("default / sequential (wall, warm)", "≥ 1.8", lambda v: v >= 1.8),
                  ("default / sequential (CPU, warm)", "≤ 1.1", lambda v: v <= 1.1),
                  ("default / YAZ(2) (wall, warm)", "≥ 2.5", lambda v: v >= 2.5),
                  ("floor / default (wall, warm)", "≤ 3.5", lambda v: v <= 3.5),
                  ("default / sequential (wall, cold)", "—", None),
                  ("pipe_t2 / sequential (wall, warm)", "—", None),
                  ("pipe_t2 / sequential (CPU, warm)", "—", None),
                  ("pipe_t1 / sequential (wall, warm)", "—", None),
                  ("pipe_t1 / sequential (CPU, warm)", "—", None),
                  ("sequential / YAZ(1) (wall, warm)", "—", None),
                  ("default --raw / YAZ(2) (wall, warm; neither decodes text)", "—", None),
                  ("default / sequential, light consumer (wall, warm)", "—", None),
                  ("default / sequential, light consumer (CPU, warm)", "—", None),
                  ("default / sequential, reads in a record_fn (wall, warm)", "—", None),
                  ("default / sequential, reads in a record_fn (CPU, warm)", "—", None))
        for name, target, ok in checks:
            for cname in ("realworld", "synthetic_marc8"):
                v = (hl.get(cname) or {}).get("ratios", {}).get(name)
                if not v:
                    continue
                L.append("| %s | %s | **%.2f** [%.2f-%.2f] | %s | %s |" % (
                    name, cname, v["median"], v["min"], v["max"], target,
                    "" if ok is None else ("yes" if ok(v["median"]) else "**no**")))
        cl = r.get("cli")
        if cl:
            sp, cp = cl["speed"], cl["cpu"]
            L.append("| `marcpipe count` / `marcpipe count --sequential` (wall; process start included), "
                     "alternating runs (%d pairs) | realworld | **%.2f** [p25 %.2f, p75 %.2f; %.2f-%.2f] at CPU "
                     "%.2f [p25 %.2f, p75 %.2f] (medians %.1f ms vs %.1f ms) | — | |" % (
                         cl["pairs"], sp["median"], sp["p25"], sp["p75"], sp["min"], sp["max"], cp["median"],
                         cp["p25"], cp["p75"], 1e3 * cl["default_s"]["median"], 1e3 * cl["sequential_s"]["median"]))
        for cname in ("realworld", "synthetic_marc8"):
            pv = (r.get("paired") or {}).get(cname)
            if not pv:
                continue
            for key, name, target, ok in (("speed", "wall", "≥ 1.8", lambda v: v >= 1.8),
                                          ("cpu", "CPU", "≤ 1.1", lambda v: v <= 1.1)):
                q = pv[key]
                L.append("| default / sequential (%s), paired runs in one process (%d pairs) | %s | **%.2f** "
                         "[p25 %.2f, p75 %.2f; %.2f-%.2f] | %s | %s |" % (
                             name, pv["pairs"], cname, q["median"], q["p25"], q["p75"], q["min"], q["max"],
                             target, "yes" if ok(q["median"]) else "**no**"))
        pair = r.get("pair") or {}
        if "ratio_parallel_vs_seq_serial" in pair:
            v = pair["variants"]
            rw, rc = pair.get("round_ratio_wall"), pair.get("round_ratio_cpu")
            pp = v["pool_parallel"]
            if rw and rc:
                L.append("| two readers at once on one pool / one after the other (sequential reader), "
                         "per round | realworld x2 | **%.2f** [%.2f-%.2f] at CPU %.2f [%.2f-%.2f] (%d rounds; "
                         "medians %.3f s vs %.3f s; %d of %d chunks parsed by the readers' threads, "
                         "%d worker steps stood back) | ≥ 1.8 | %s |" % (
                             rw["median"], rw["min"], rw["max"], rc["median"], rc["min"], rc["max"],
                             pair["runs"], pp["median_s"], v["seq_serial"]["median_s"],
                             pp.get("chunks_consumer", 0), pp.get("chunks", 0), pp.get("worker_standbys", 0),
                             "yes" if rw["median"] >= 1.8 else "**no**"))
            ow, oc = pair.get("own_ratio_wall"), pair.get("own_ratio_cpu")
            if ow and oc:
                op = v["own_parallel"]
                L.append("| two default readers at once, each with its own private pool / one after the other "
                         "(sequential reader), per round | realworld x2 | **%.2f** [%.2f-%.2f] at CPU %.2f "
                         "[%.2f-%.2f] (%d of %d chunks parsed by the readers' threads) | — | |" % (
                             ow["median"], ow["min"], ow["max"], oc["median"], oc["min"], oc["max"],
                             op.get("chunks_consumer", 0), op.get("chunks", 0)))
            cw, cc = pair.get("ceiling_ratio_wall"), pair.get("ceiling_ratio_cpu")
            if cw and cc:
                L.append("| two *sequential* readers at once, a thread each (no pool) / one after the other, "
                         "per round: what two threads get from this machine | realworld x2 | **%.2f** "
                         "[%.2f-%.2f] at CPU %.2f [%.2f-%.2f] | — | |" % (
                             cw["median"], cw["min"], cw["max"], cc["median"], cc["min"], cc["max"]))
            sh, pc = pair.get("own_share_cpu"), pair.get("pool_serial_cpu")
            if sh and pc:
                L.append("| the pipeline's own share: default reader's CPU (the two files one after the "
                         "other, on the pool) / two sequential readers' CPU at once, per round | realworld x2 "
                         "| **%.3f** [%.2f-%.2f] (over the sequential reader one file after the other: %.3f "
                         "[%.2f-%.2f]) | — | |" % (sh["median"], sh["min"], sh["max"], pc["median"], pc["min"],
                                                  pc["max"]))
            L.append("| two readers at once on one pool / one after the other (sequential reader), "
                     "ratio of medians | realworld x2 | **%.2f** (%.3f s vs %.3f s, medians of %d) | — | |" % (
                         pair["ratio_parallel_vs_seq_serial"], v["pool_parallel"]["median_s"],
                         v["seq_serial"]["median_s"], pair["runs"]))
            L.append("| two readers at once on one pool / one after the other (default reader, same pool) | "
                     "realworld x2 | **%.2f** (%.3f s vs %.3f s) | — | |" % (
                         pair["ratio_parallel_vs_pool_serial"], v["pool_parallel"]["median_s"],
                         v["pool_serial"]["median_s"]))
        for s_ in (r.get("latency") or {}).get("series", []):
            if s_["variant"] == "default_reader":
                L.append("| 10-record open + read + close, default reader (%s path) | ten.mrc | **%.1f µs** "
                         "[p25 %.1f, p75 %.1f, p99 %.1f] | ≤ 30 µs | %s |" % (
                             s_.get("path", "?"), s_["total_us_median"], s_.get("total_us_p25", 0),
                             s_.get("total_us_p75", 0), s_["total_us_p99"],
                             "yes" if s_["total_us_median"] <= 30 else "**no**"))
        for o in r["rss"]:
            if o.get("peak_above_baseline_kib") is not None:
                mib = o["peak_above_baseline_kib"] / 1024.0
                L.append("| peak RSS above baseline | %s | **%.1f MiB** | ≤ 16 MiB | %s |" % (
                    o.get("input"), mib, "yes" if mib <= 16 else "**no**"))
        for o in r.get("python") or []:
            if "ratio_median" in o:
                big = o["bytes"] >= 100e6
                L.append("| Python `for r in MARCReader(path): r.title` / pymarc 5.3.1 | %s (%.0f MB) | **%.1fx** "
                         "[%.1f-%.1f] (%.0f vs %.0f records/s) | %s | %s |" % (
                             os.path.basename(o["file"]), o["bytes"] / 1e6, o["ratio_median"], o["ratio_min"],
                             o["ratio_max"], o["marcpipe_rec_s_median"], o["pymarc_rec_s_median"],
                             "≥ 60x" if big else "≥ 40x",
                             "yes" if o["ratio_median"] >= (60 if big else 40) else "**no**"))
        L.append("")
        L.append("### Headline configurations (interleaved rounds)")
        L.append("")
        L.append("| corpus | configuration | warm MB/s median [min-max] | best observed | warm CPU s median | "
                 "cold MB/s median | cold CPU s median | records |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|")
        for cname in ("realworld", "synthetic_marc8"):
            for label, v in ((hl.get(cname) or {}).get("configs") or {}).items():
                L.append("| %s | %s | %.0f [%.0f-%.0f] | %.0f | %.3f | %.0f | %.3f | %s |" % (
                    cname, label, v["warm_mb_s_median"], v["warm_mb_s_min"], v["warm_mb_s_max"],
                    v["best_observed_mb_s"], v["warm_cpu_s_median"], v["cold_mb_s_median"],
                    v["cold_cpu_s_median"], v["records"]))
        L.append("")
        dstats = ((hl.get("realworld") or {}).get("configs") or {}).get("default", {}).get("last_stats")
        if dstats:
            L.append("Default reader, last realworld round: path %s, %s workers, %s of %s chunks parsed on the "
                     "thread that read them, %s parsed by the consumer thread, %s read into a chunk the same thread "
                     "had read into last; sleeps: workers %s, consumer %s." % (
                         {1: "pipeline", 2: "sequential"}.get(dstats.get("mode"), "?"), dstats.get("workers"),
                         dstats.get("chunks_local"), dstats["stages"]["parser"]["items"] - 1,
                         dstats.get("chunks_consumer"), dstats.get("chunks_home"), dstats["stages"]["parser"]["sleeps"],
                         dstats["stages"]["consumer"]["sleeps"]))
            L.append("")
        spell_rows = []
        for cname in ("realworld", "synthetic_marc8"):
            sp = ((r.get("paired") or {}).get(cname) or {}).get("by_spell")
            if not sp:
                continue
            for g in sp["groups"]:
                spell_rows.append("| %s | %.0f-%.0f | %d | %.0f | %.2f | %.2f |" % (
                    cname, g["seq_cpu_min_s"] * 1e3, g["seq_cpu_max_s"] * 1e3, g["n"], g["default_cpu_s"] * 1e3,
                    g["speed"], g["cpu"]))
            if sp.get("corr_seq_cpu_vs_cpu_ratio") is not None:
                spell_rows.append("| %s | correlation of the sequential CPU with the CPU ratio: %.2f | | | | |" % (
                    cname, sp["corr_seq_cpu_vs_cpu_ratio"]))
        if spell_rows:
            L.append("### Paired runs by the host's speed (diagnostic)")
            L.append("")
            L.append("The paired runs in three equal groups by the sequential run's CPU time, i.e. by how fast one "
                     "thread ran on the host in that second; medians per group. The target rows above use all pairs.")
            L.append("")
            L.append("| corpus | sequential CPU per run (ms) | pairs | default reader CPU (ms) | wall ratio | "
                     "CPU ratio |")
            L.append("|---|---|---:|---:|---:|---:|")
            L.extend(spell_rows)
            L.append("")
        L.append("### Throughput (full parse; MB = 10^6 bytes)")
        L.append("")
        L.append("| configuration | best MB/s | median MB/s | records/s (best) | CPU s (best run) | MB per CPU s | vs sequential | vs YAZ same threads | load |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for o in r["throughput"]:
            if "best_mb_s" not in o:
                L.append("| %s | failed | | | | | | | |" % o.get("label"))
                continue
            L.append("| %s | %.1f | %.1f | %.0f | %.2f | %s | %s | %s | %s |" % (
                o["label"], o["best_mb_s"], o["median_mb_s"], o["best_rec_s"], o["best_cpu_s"],
                fmt(ratio(o["bytes"] / 1e6, o["best_cpu_s"]), 0),
                fmt(o.get("ratio_vs_seq")), fmt(o.get("ratio_vs_yaz_same_threads")), " ".join(o.get("load", []))))
        L.append("")
        L.append("Labels: `floor` = read() + memchr(0x1D); `seq` = mp_reader in MP_MODE_SEQUENTIAL; `pipe_tN` = pipeline with N "
                 "workers + the consumer (private pool, default chunk size and T, ordered); `default` = default options; `yaz_tN` = yaz_marc_read_iso2709 on N "
                 "threads over a pre-loaded copy (framing by leader length included, file load excluded); "
                 "`chunk_X`, `inflight_T` = 2 workers with that chunk size / chunks in flight (one chunk = one batch: "
                 "there is no separate batch-size knob); `unordered_t2` = no reorder window; `shared_pool_t2` = on an "
                 "mp_pool; `mem_t2` = mp_reader_open_mem; `*raw*` = MP_ENCODING_RAW (no UTF-8 validation / MARC-8 "
                 "decoding).")
        L.append("")
        L.append("### Peers")
        L.append("")
        if r["peers"]:
            L.append("| peer | file | MB/s | records/s | records | note |")
            L.append("|---|---|---:|---:|---:|---|")
            for o in r["peers"]:
                note = ""
                if "ratio_seq_vs_peer" in o:
                    note = "marcpipe sequential reader is %s× faster on the same file" % fmt(o["ratio_seq_vs_peer"])
                L.append("| %s | %s | %s | %s | %s | %s |" % (
                    o.get("mode"), os.path.basename(str(o.get("file", self.base))), fmt(o.get("best_mb_s")),
                    fmt(o.get("best_rec_s"), 0), o.get("records", ""), note))
        for n in r["notes"]:
            L.append("- %s" % n)
        L.append("")
        cap = r.get("capacity")
        L.extend(self.formats_markdown())
        L.append("### Per-stage capacity and prediction")
        L.append("")
        if cap:
            L.append("From the stage CPU times of `%s` (%.1f MB): capacity = bytes / CPU seconds of that stage." % (
                cap["source"], cap["bytes"] / 1e6))
            L.append("")
            L.append("| stage | CPU s | capacity MB/s |")
            L.append("|---|---:|---:|")
            for k in ("producer", "scanner", "parser", "consumer"):
                L.append("| %s%s | %.3f | %s |" % (k, " (one worker)" if k == "parser" else "",
                                                    cap["stage_cpu_s"].get(k, 0), fmt(cap["capacity_mb_s"].get(k))))
            L.append("")
            L.append("| cores (workers) | predicted MB/s = min(producer, scanner, N × worker, consumer) | measured |")
            L.append("|---:|---:|---:|")
            for n, v in cap["predicted_mb_s"].items():
                L.append("| %s | %s | %s |" % (n, fmt(v), fmt(cap["measured_mb_s"].get(n))))
            L.append("")
            L.append("Serial bottleneck once workers are plentiful: **%s**. Assumptions: %s." % (
                cap["serial_bottleneck"], cap["assumptions"]))
        else:
            L.append("(no stats: the pipeline run failed)")
        L.append("")
        wr = r.get("writers") or {}
        if wr.get("c"):
            c = wr["c"]
            L.append("### Writers (perf/write_bench.py: medians of %d interleaved rounds)"
                     % next(iter(c["configs"].values()))["runs"])
            L.append("")
            L.append("Input: %s (%.1f MB), output to /dev/null; load at the time %s." % (
                os.path.basename(c["file"]), c["bytes"] / 1e6, " ".join("%.2f" % x for x in c["load"])))
            L.append("")
            L.append("| command | median s | MB/s (input) | CPU s |")
            L.append("|---|---:|---:|---:|")
            for name, v in c["configs"].items():
                L.append("| %s | %.2f | %.1f | %.2f |" % (name, v["median_s"], v["median_mb_s"], v["median_cpu_s"]))
            L.append("")
            L.append("| ratio | value | target |")
            L.append("|---|---:|---|")
            L.append("| convert -o marcxml vs yaz-marcdump -o marcxml (wall) | %s | ≥ 3× |" % fmt(c.get("ratio_marcxml_vs_yaz")))
            L.append("| same, CPU seconds | %s | — |" % fmt(c.get("ratio_marcxml_vs_yaz_cpu")))
            L.append("| ISO 2709 → ISO 2709 copy, MB/s | %s | ≥ 1000 |" % fmt(c.get("iso2709_copy_mb_s"), 0))
            py = wr.get("python") or {}
            if py:
                L.append("")
                L.append("Python (%.0f MB file; pymarc 5.3.1 from ../shared/peers):" % (py["file_bytes"] / 1e6))
                L.append("")
                L.append("| | marcpipe | pymarc | ratio (wall) | ratio (CPU) | target |")
                L.append("|---|---:|---:|---:|---:|---|")
                for k, v in py["writers"].items():
                    L.append("| %s over the file | %.2f s | %s | %s | %s | %s |" % (
                        k, v["marcpipe_median_s"], "%.2f s" % v["pymarc_median_s"] if "pymarc_median_s" in v else "SKIP",
                        fmt(v.get("ratio")), fmt(v.get("ratio_cpu")),
                        "≥ 30×" if k in ("XMLWriter", "JSONWriter") else "—"))
                for k, v in py.get("loops", {}).items():
                    L.append("| read + %s per record, over the file | %.2f s | %s | %s | %s | %s |" % (
                        k, v["marcpipe_median_s"], "%.2f s" % v["pymarc_median_s"] if "pymarc_median_s" in v else "SKIP",
                        fmt(v.get("ratio")), fmt(v.get("ratio_cpu")), "≥ 20×" if k != "title" else "—"))
                for k, v in py["methods"].items():
                    L.append("| %s() per record (CPU) | %.2f µs | %s | %s | %s | ≥ 20× |" % (
                        k, v["marcpipe_us"], "%.1f µs" % v["pymarc_us"] if "pymarc_us" in v else "SKIP",
                        fmt(v.get("ratio_wall")), fmt(v.get("ratio"))))
            L.append("")
        sc = r.get("scripts")
        if sc and sc.get("configs"):
            L.append("### MARC-8 in other scripts (%d interleaved rounds)" % sc.get("rounds", 0))
            L.append("")
            L.append("Every MARC-8 sample record of the shared corpus (%s: CJK in EACC, Hebrew, Cyrillic, "
                     "Farsi) repeated to %.1f MB, decoded to NFC UTF-8 by the readers (not by YAZ's read, nor "
                     "with `--raw`); warm runs, median [min-max] over rounds." % (
                         ", ".join(sc.get("samples", [])), sc["bytes"] / 1e6))
            L.append("")
            L.append("| configuration | MB/s | CPU s |")
            L.append("|---|---:|---:|")
            for label, v in sc["configs"].items():
                L.append("| %s | %.0f [%.0f-%.0f] | %.3f |" % (label, v["warm_mb_s_median"], v["warm_mb_s_min"],
                                                           v["warm_mb_s_max"], v["warm_cpu_s_median"]))
            L.append("")
            L.append("| ratio | median [min-max] |")
            L.append("|---|---|")
            for k, v in sc["ratios"].items():
                L.append("| %s | %.2f [%.2f-%.2f] |" % (k, v["median"], v["min"], v["max"]))
            L.append("")
        L.append("### Latency (10-record file, %s iterations)" % ((r["latency"] or {}).get("series", [{}])[0].get("iters", "?")))
        L.append("")
        L.append("Variants interleaved round by round; `default_reader*` = default options (the library "
                 "chooses the path: `path`).")
        L.append("")
        L.append("| variant | path | open+read+close median µs | p25 | p75 | p99 µs | first record median µs |")
        L.append("|---|---|---:|---:|---:|---:|---:|")
        for s in (r["latency"] or {}).get("series", []):
            L.append("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                s["variant"], s.get("path", ""), s["total_us_median"], s.get("total_us_p25", 0),
                s.get("total_us_p75", 0), s["total_us_p99"], s["first_us_median"]))
        L.append("")
        L.append("### Memory (peak RSS above the baseline before open; target ≤ 16 MiB)")
        L.append("")
        L.append("| input | bytes | MB/s | peak above baseline MiB | chunks T × size | ok |")
        L.append("|---|---:|---:|---:|---|---|")
        for o in r["rss"]:
            L.append("| %s | %s | %s | %s | %s × %s KiB | %s |" % (
                o.get("input"), o.get("input_bytes"), fmt(o.get("mb_s")),
                fmt((o.get("peak_above_baseline_kib") or 0) / 1024.0), o.get("chunks_total"),
                (o.get("chunk_size") or 0) // 1024, o.get("ok")))
        L.append("")
        L.append("### Stress scenarios")
        L.append("")
        for o in r["stress"]:
            L.append("- `%s`: ok=%s — %s" % (o.get("scenario"), o.get("ok"),
                                             ", ".join("%s=%s" % (k, v) for k, v in o.items()
                                                       if k not in ("scenario", "ok", "load", "elapsed_s"))))
        L.append("")
        L.extend(self.ranges_markdown())
        L.append("Plots: `perf/out/throughput_vs_workers.png`, `throughput_vs_chunk.png`, "
                 "`throughput_vs_inflight.png`, `occupancy_*.png`; raw data: `perf/out/results.json`, `results.csv`.")
        text = "\n".join(L) + "\n"
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write(text)
        return text

    def formats_markdown(self):
        """The input-format section of the results (MARCXML, MARC-in-JSON)."""
        L = []
        fm = self.results.get("formats") or {}
        L.append("### Input formats: MARCXML and MARC-in-JSON")
        L.append("")
        if fm.get("runs"):
            runs = fm["runs"]
            files = fm.get("files", {})
            walls = fm.get("walls") or {}
            L.append("One file per format, written by `yaz-marcdump -o marcxml|json` from the realworld records "
                     "(%s); %d interleaved rounds (marcpipe's default reader, the pipeline forced with 2 "
                     "workers, the sequential reader, `yaz-marcdump -i FORMAT -o marc` and `-n` in turn; "
                     "marcpipe: the warm run of `mpbench MODE FILE -k 2`, YAZ: one process per run, start "
                     "included). Medians over the rounds [min-max]; best observed beside them." % (
                         ", ".join("%s %.1f MB" % (k, v["bytes"] / 1e6) for k, v in files.items()),
                         fm.get("rounds", 1 if self.a.smoke else self.a.k)))
            L.append("")
            L.append("| configuration | median MB/s [min-max] | best MB/s | records |")
            L.append("|---|---:|---:|---:|")
            for label, o in sorted(runs.items()):
                ws = walls.get(label)
                size = (files.get(label.split("_")[0]) or {}).get("bytes")
                med = ("%.1f [%.1f-%.1f]" % (size / 1e6 / statistics.median(ws), size / 1e6 / max(ws),
                                             size / 1e6 / min(ws))) if ws and size else "n/a"
                L.append("| %s | %s | %.1f | %s |" % (label, med, o["best_mb_s"], o.get("records", "")))
            L.append("")

            def ratio(key):
                v = (fm.get("ratios") or {}).get(key)
                return "**%.2f** [%.2f-%.2f]" % (v["median"], v["min"], v["max"]) if v else "n/a"
            L.append("| ratio (per round, median [min-max]) | value | target |")
            L.append("|---|---|---|")
            L.append("| MARCXML: default reader / `yaz-marcdump -i marcxml -o marc` | %s | ≥ 3 |" %
                     ratio("marcxml default/yaz_marc"))
            L.append("| MARCXML: default reader / `yaz-marcdump -i marcxml -n` (parse only) | %s | ≥ 3 |" %
                     ratio("marcxml default/yaz_n"))
            L.append("| MARCXML: default reader / sequential reader | %s | ≥ 1.8 |" % ratio("marcxml default/seq"))
            L.append("| MARCXML: pipeline forced, 2 workers / sequential reader | %s | — |" %
                     ratio("marcxml pipe_t2/seq"))
            pr = fm.get("py_ratio")
            L.append("| Python `parse_xml_to_array`: pymarc 5.3.1 time / marcpipe's median time, per round "
                     "(%s rounds) | %s | ≥ 50 |" % (pr["rounds"] if pr else "—",
                                                    "**%.1f** [%.1f-%.1f]" % (pr["median"], pr["min"], pr["max"])
                                                    if pr else "—"))
            L.append("| MARC-in-JSON: default reader / `yaz-marcdump -i json -o marc` | %s | — |" %
                     ratio("json default/yaz_marc"))
            L.append("| MARC-in-JSON: default reader / sequential reader | %s | — |" % ratio("json default/seq"))
            L.append("")
            for mod in ("marcpipe", "pymarc"):
                o = fm.get("py_" + mod)
                if o:
                    L.append("- Python %s `parse_xml_to_array`: median %.2f s (%.1f MB/s) of %d runs in %d rounds, best "
                             "%.2f s, %d records." % (mod, o.get("median_s", o["best_s"]),
                                                      o.get("median_mb_s", o["best_mb_s"]),
                                                      len(o.get("runs_s", [1])),
                                                      len(o.get("round_medians_s", [1])), o["best_s"], o["records"]))
            L.append("")
        else:
            L.append("(skipped: yaz-marcdump or the realworld corpus absent)")
            L.append("")
        return L

    def ranges_markdown(self):
        L = ["### Byte ranges: split planning, Dask, pickling (perf/ranges_bench.py)", ""]
        rs = self.results.get("ranges") or []
        sp = [o for o in rs if o.get("bench") == "split_plan"]
        if sp:
            L.append("| split plan | input | ranges | median ms | best ms | target |")
            L.append("|---|---:|---:|---:|---:|---|")
            for o in sp:
                L.append("| %s %s | %.2f GB | %d | %.2f | %.2f | ≤ 50 ms |" % (
                    o["via"], json.dumps(o["options"]), o["file_bytes"] / 1e9, o["ranges"],
                    o["median_ms"], o["best_ms"]))
            L.append("")
        for o in rs:
            if o.get("bench") == "dask_650a" and "speedup_median" in o:
                L.append("650 $a count over %.0f MB (%d records): one `MARCReader(threads=1)` %.2f s "
                         "(median; best %.2f), Dask `read_marc(blocksize=%s)` on a LocalCluster of "
                         "2 worker processes %.2f s (%d partitions; best %.2f): **%.2f×** median, "
                         "%.2f× best (target ≥ 1.6×). CPU seconds: the plain reader's Python thread "
                         "%.2f + its C thread %.2f; Dask %.2f in all, so an idle 2-core machine "
                         "would show about %.2f×. Per-partition overhead %.1f ms (slope against %s "
                         "partitions, %d of them), of which a range reader's open + first record + "
                         "close is %.2f ms; cluster start %.1f s (not timed). Load: %s." % (
                             o["file_bytes"] / 1e6, o["records"], o["single_s_median"],
                             o["single_s_best"], o["blocksize"], o["dask_s_median"], o["partitions"],
                             o["dask_s_best"], o["speedup_median"], o["speedup_best"],
                             o["single_python_thread_cpu_s"], o["single_other_threads_cpu_s"],
                             o["dask_total_cpu_s"], o["speedup_idle_2core_estimate"],
                             o["per_partition_overhead_ms"], o["small_blocksize"],
                             o["small_partitions"], o.get("range_reader_open_first_close_ms", -1),
                             o["cluster_start_s"], " ".join(o["load"])))
                L.append("")
            if o.get("bench") == "pickle":
                L.append("Pickling %d records: %.2f× their ISO 2709 bytes; dumps %.1f µs, loads %.1f µs "
                         "per record." % (o["records"], o["ratio_to_iso2709"],
                                          o["dumps_us_per_record"], o["loads_us_per_record"]))
                L.append("")
            if "skipped" in o:
                L.append("- %s: skipped (%s)" % (o.get("bench"), o["skipped"]))
        return L

    def update_performance_md(self, text):
        path = os.path.join(HERE, "PERFORMANCE.md")
        begin, end = "<!-- BEGIN GENERATED (perf/bench.py) -->", "<!-- END GENERATED -->"
        if not os.path.exists(path):
            return
        doc = open(path).read()
        if begin in doc and end in doc:
            pre = doc.split(begin)[0]
            post = doc.split(end, 1)[1]
            with open(path, "w") as f:
                f.write(pre + begin + "\n" + text + end + post)
            log("updated %s" % path)

    def main(self):
        a = self.a
        m = self.results["meta"]
        m["started"] = datetime.datetime.now().isoformat(timespec="seconds")
        m["cpu_model"] = sh("lscpu | sed -n 's/^Model name: *//p'")
        m["cpus"] = os.cpu_count()
        m["kernel"] = sh("uname -sr")
        m["lscpu"] = sh("lscpu")
        m["load_start"] = load()
        m["uptime_start"] = sh("uptime")
        m["smoke"] = a.smoke
        self.prepare_corpus()
        self.run_probe()
        self.run_headline()
        self.run_paired()
        self.run_cli()
        self.run_throughput()
        self.run_pair()
        self.run_peers()
        self.run_formats()
        self.run_scripts()
        self.run_latency()
        self.run_stress()
        self.run_writers()
        self.run_ranges()
        m["load_end"] = load()
        m["uptime_end"] = sh("uptime")
        self.analyse()
        self.smoke_checks()
        self.write()
        text = self.markdown()
        if not a.smoke and not a.no_md:
            self.update_performance_md(text)
        if a.smoke:
            for o in self.results["throughput"]:
                if "best_mb_s" not in o:
                    continue
            for png in ("throughput_vs_workers.png",):
                if shutil.which("gnuplot") and not os.path.exists(os.path.join(self.out, png)):
                    self.failures.append("plot %s missing" % png)
        if self.failures:
            for f in self.failures:
                log("FAILED: %s" % f)
            return 1
        log("results in %s" % self.out)
        return 0


def quartiles(vals):
    v = sorted(vals)
    n = len(v)
    return {"median": statistics.median(v), "p25": v[n // 4], "p75": v[(3 * n) // 4], "min": v[0],
            "max": v[-1], "n": n}


def spells(seq_cpu, def_cpu, walls, cpus):
    """The paired ratios in three equal groups by the sequential run's CPU
    time: how fast one thread ran on the host in that second (its speed moves
    by up to 1.5x). The two runs of a pair share the spell, so each group's
    ratios compare the readers at one host speed; the Pearson correlation of
    the sequential CPU with the CPU ratio says how much the ratio depends on
    it. Diagnostic only: the target rows use all pairs."""
    pairs = sorted(zip(seq_cpu, def_cpu, walls, cpus))
    n = len(pairs)
    if n < 6:
        return None
    groups = []
    for lo, hi in ((0, n // 3), (n // 3, (2 * n) // 3), ((2 * n) // 3, n)):
        g = pairs[lo:hi]
        groups.append({"n": len(g), "seq_cpu_min_s": g[0][0], "seq_cpu_max_s": g[-1][0],
                       "default_cpu_s": statistics.median(x[1] for x in g),
                       "speed": statistics.median(x[2] for x in g), "cpu": statistics.median(x[3] for x in g)})
    try:
        corr = statistics.correlation([x[0] for x in pairs], [x[3] for x in pairs])
    except statistics.StatisticsError:
        corr = None
    return {"groups": groups, "corr_seq_cpu_vs_cpu_ratio": corr}


def med_range(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


# Ratios of the headline, each computed per round (the two runs of a round are
# minutes apart at most), then summarised as median [min-max] over rounds.
# (name, numerator config, denominator config, what): "wall": speed-up =
# den wall / num wall; "cpu": num CPU / den CPU; "floor": num MB/s / den MB/s.
HEADLINE_RATIOS = (
    ("default / sequential (wall, warm)", "default", "seq", "wall", "warm"),
    ("default / sequential (wall, cold)", "default", "seq", "wall", "cold"),
    ("default / sequential (CPU, warm)", "default", "seq", "cpu", "warm"),
    ("pipe_t2 / sequential (wall, warm)", "pipe_t2", "seq", "wall", "warm"),
    ("pipe_t2 / sequential (CPU, warm)", "pipe_t2", "seq", "cpu", "warm"),
    ("pipe_t1 / sequential (wall, warm)", "pipe_t1", "seq", "wall", "warm"),
    ("pipe_t1 / sequential (CPU, warm)", "pipe_t1", "seq", "cpu", "warm"),
    ("default / YAZ(2) (wall, warm)", "default", "yaz_t2", "wall", "warm"),
    ("floor / default (wall, warm)", "floor", "default", "floor", "warm"),
    ("sequential / YAZ(1) (wall, warm)", "seq", "yaz_t1", "wall", "warm"),
    ("default --raw / YAZ(2) (wall, warm; neither decodes text)", "default_raw", "yaz_t2", "wall", "warm"),
    ("default / sequential, light consumer (wall, warm)", "default_light", "seq_light", "wall", "warm"),
    ("default / sequential, light consumer (CPU, warm)", "default_light", "seq_light", "cpu", "warm"),
    ("default / sequential, reads in a record_fn (wall, warm)", "default_callback", "seq_callback", "wall", "warm"),
    ("default / sequential, reads in a record_fn (CPU, warm)", "default_callback", "seq_callback", "cpu", "warm"),
)


def headline_summary(per, rounds):
    """per: label -> list of per-round runs (cold/warm wall and CPU). Returns the
    per-config medians and spreads, and the per-round paired ratios."""
    configs = {}
    for label, runs in per.items():
        if not runs:
            continue
        b = runs[0]["bytes"] / 1e6
        c = {"runs": len(runs), "records": runs[0]["records"], "checksum": runs[0]["checksum"]}
        for kind in ("warm", "cold"):
            mbs = [b / r[kind + "_s"] for r in runs]
            cpus = [r[kind + "_cpu_s"] for r in runs]
            c[kind + "_mb_s_median"] = statistics.median(mbs)
            c[kind + "_mb_s_min"] = min(mbs)
            c[kind + "_mb_s_max"] = max(mbs)
            c[kind + "_cpu_s_median"] = statistics.median(cpus)
            c[kind + "_cpu_s_min"] = min(cpus)
            c[kind + "_cpu_s_max"] = max(cpus)
        c["best_observed_mb_s"] = c["warm_mb_s_max"]
        c["loads"] = [r["load"] for r in runs]
        st = [r["stats"] for r in runs if r.get("stats")]
        if st:
            c["last_stats"] = st[-1]
        configs[label] = c
    ratios = {}
    for name, num, den, what, kind in HEADLINE_RATIOS:
        a, d = per.get(num) or [], per.get(den) or []
        vals = []
        for x, y in zip(a, d):
            if what == "cpu":
                vals.append(x[kind + "_cpu_s"] / y[kind + "_cpu_s"] if y[kind + "_cpu_s"] > 0 else None)
            elif what == "floor":  # floor MB/s over the other's MB/s = other's wall / floor's wall
                vals.append(y[kind + "_s"] / x[kind + "_s"])
            else:
                vals.append(y[kind + "_s"] / x[kind + "_s"])
        r = med_range(vals)
        if r:
            ratios[name] = r
    return {"configs": configs, "ratios": ratios}


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper()
    return int(float(s[:-1]) * mult[s[-1]]) if s[-1] in mult else int(s)


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def fmt(v, nd=2):
    if v is None:
        return "n/a"
    return ("%." + str(nd) + "f") % v


def fmt_ratio(a, b):
    return "%.2f" % (a / b) if a and b else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--corpus", default=os.environ.get("MARCPIPE_CORPUS", os.path.join(REPO, "..", "shared", "data")))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--size", default="200M", help="throughput corpus size (repeat-to)")
    ap.add_argument("--big", default="2G", help="large callback input for the RSS check")
    ap.add_argument("-k", type=int, default=5, help="runs per main measurement")
    ap.add_argument("--rounds", type=int, default=7,
                    help="interleaved rounds of the headline, the two-readers run and the Python loop")
    ap.add_argument("--max-workers", type=int, default=0)
    ap.add_argument("--stress-seconds", type=float, default=2.0)
    ap.add_argument("--smoke", action="store_true", help="seconds-long sanity run (CTest perf-smoke)")
    ap.add_argument("--no-md", action="store_true", help="do not rewrite perf/PERFORMANCE.md")
    ap.add_argument("--only", choices=("ranges", "formats"),
                    help="run only that part (ranges; formats: MARCXML / JSON reading); prints its "
                         "markdown, leaves PERFORMANCE.md alone")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only re-render results.md / PERFORMANCE.md from a saved results.json")
    a = ap.parse_args()
    if a.render:
        h = Harness(a)
        h.results = json.load(open(a.render))
        h.base = h.big = h.results["meta"].get("corpus_file", "")
        text = h.markdown()
        if not a.no_md:
            h.update_performance_md(text)
        return 0
    if a.smoke:
        a.k = 1
    if a.only == "ranges":
        h = Harness(a)
        h.results["meta"]["started"] = datetime.datetime.now().isoformat(timespec="seconds")
        h.run_ranges()
        with open(os.path.join(h.out, "results_ranges.json"), "w") as f:
            json.dump(h.results["ranges"], f, indent=1)
        print("\n".join(h.ranges_markdown()))
        for f in h.failures:
            log("FAILED: %s" % f)
        return 1 if h.failures else 0
    if a.only == "formats":
        h = Harness(a)
        m = h.results["meta"]
        m["started"] = datetime.datetime.now().isoformat(timespec="seconds")
        m["cpu_model"] = sh("lscpu | sed -n 's/^Model name: *//p'")
        m["load_start"] = load()
        h.run_formats()
        m["load_end"] = load()
        with open(os.path.join(h.out, "results_formats.json"), "w") as f:
            json.dump(h.results, f, indent=1)
        print("\n".join(h.formats_markdown()))
        print("load at start %s, at end %s" % (" ".join(m["load_start"]), " ".join(m["load_end"])))
        return 1 if h.failures else 0
    return Harness(a).main()


if __name__ == "__main__":
    sys.exit(main())
