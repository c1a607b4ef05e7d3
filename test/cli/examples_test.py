#!/usr/bin/python3
"""Runs one example program (examples/*.c) on the bundled sample and checks
its output against expectations computed independently (marcfile.py).

    examples_test.py NAME BINARY SAMPLE
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import marcfile  # noqa: E402

TIMEOUT = 60


def run(argv, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.run(argv, timeout=TIMEOUT, **kw)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def check(cond, what, *context):
    if not cond:
        print("FAIL:", what)
        for c in context:
            print("  ", repr(c)[:2000])
        sys.exit(1)


def good_records(sample):
    return [r for r in marcfile.read(sample) if not r.damaged]


def strip_title(t):
    return t.rstrip(" :/;,.=")


def t_readme_example(binary, sample):
    rc, out, err = run([binary, sample])
    good = good_records(sample)
    check(rc == 0, "readme_example exits 0 at MP_EOF", rc, err)
    lines = out.splitlines()
    check(len(lines) == len(good), "one title per good record", len(lines), len(good))
    check(lines[0] == good[0].subfields("245", "a")[0], "first title", lines[0])
    check("skipped:" in err, "the damaged record is reported on stderr", err)


def t_isbn_index(binary, sample):
    rc, out, err = run([binary, sample])
    check(rc == 1, "isbn_index exits 1 (a data error was reported)", rc, err)
    expect = []
    for r in good_records(sample):
        title = strip_title(r.subfields("245", "a")[0])
        if r.leader[9] == " ":  # the MARC-8 record: marcpipe converts it (see make_sample.py)
            check(r.control("001") == "mp000030", "one MARC-8 record", r.control("001"))
            title = "Symfonie \u010d\u00edslo 9"
        for isbn in r.subfields("020", "a"):
            expect.append("%s\t%s" % (isbn.split(" ")[0], title))
    lines = out.splitlines()
    check(sorted(expect) == lines, "sorted ISBN index equals the expected one",
          len(lines), len(expect), lines[:3], sorted(expect)[:3])
    check("DIRECTORY" in err or "record" in err, "error item printed", err)


def t_filter_fn(binary, sample):
    good = good_records(sample)
    rc, out, err = run([binary, sample, "eng"])
    expect = [r.control("001") for r in good if r.control("008")[35:38] == "eng"]
    got = [line.split("\t")[0] for line in out.splitlines()]
    check(rc == 1, "filter_fn exits 1 (a data error was reported)", rc, err)
    check(got == expect, "kept exactly the eng records, in order", got[:5], expect[:5])
    check("kept %d, dropped %d" % (len(expect), len(good) - len(expect)) in err,
          "atomic counters match", err)
    # Language OR subject word.
    rc, out, err = run([binary, sample, "ger", "history"])

    def keep(r):
        return r.control("008")[35:38] == "ger" or any(
            "history" in a.lower() for a in r.subfields("650", "a"))
    expect = [r.control("001") for r in good if keep(r)]
    got = [line.split("\t")[0] for line in out.splitlines()]
    check(got == expect, "language or 650 word filter", got[:5], expect[:5])
    check(0 < len(expect) < len(good), "the filter test is meaningful", len(expect))


def t_pipe_read(binary, sample):
    size = os.path.getsize(sample)
    n = len(good_records(sample))
    rc, out, err = run([binary, sample])  # forks a writer child
    check(rc == 1, "pipe_read exits 1 (a data error was reported)", rc, err)
    check(out == "records %d errors 1 bytes %d\n" % (n, size), "counts from a forked pipe", out)
    with open(sample, "rb") as f:
        rc, out, err = run([binary], stdin=f)
    check(out == "records %d errors 1 bytes %d\n" % (n, size), "counts from stdin", out)
    rc, out, err = run([binary, "/nonexistent/file.mrc"])
    check(rc == 2, "a writer that cannot read its file fails the run", rc, out, err)


def t_edit_write(binary, sample):
    import xml.etree.ElementTree as ET
    good = good_records(sample)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.mrc")
        rc, _, err = run([binary, sample, out])
        check(rc == 1 and "left out:" in err, "the damaged record is left out, exit 1", rc, err)
        recs = marcfile.read(out)
        check(len(recs) == len(good), "every good record written", len(recs), len(good))
        for i, (want, got) in enumerate(zip(good, recs)):
            check(not got.damaged and got.leader[9] == "a", "well-formed UTF-8 record", got.leader)
            kept = [f for f in want.fields if not f[0].startswith("9")]
            check(got.fields[:-1] == kept or want.leader[9] != "a",
                  "fields kept, 9XX removed (record %d)" % i, got.fields[:3], kept[:3])
            check(got.fields[-1][:3] == ("999", " ", " ") and got.fields[-1][3][0] == ("a", "checked"),
                  "999 added", got.fields[-1])
        check(recs[0].fields[-1][3][1] == ("b", "0"), "999 $b is the ordinal", recs[0].fields[-1])
        x = os.path.join(tmp, "out.xml")
        rc, _, err = run([binary, "-x", sample, x])
        root = ET.parse(x).getroot()
        check(rc == 1 and root.tag.endswith("collection") and len(root) == len(good),
              "-x: one MARCXML collection", rc, len(root))
        rc, _, err = run([binary, sample, os.path.join(tmp, "no", "such", "dir")])
        check(rc == 2, "an output that cannot be opened: exit 2", rc, err)


def service_answers(text):
    ans = {}
    for line in text.splitlines():
        path, a, b = line.split("\t")
        ans.setdefault(path, []).append((a, b))
    return ans


def t_service(binary, sample):
    n = len(good_records(sample))
    with tempfile.TemporaryDirectory() as tmp:
        # A second, clean file: the first 20 records of the sample.
        recs = marcfile.read(sample)
        clean = os.path.join(tmp, "clean.mrc")
        with open(clean, "wb") as f:
            f.write(b"".join(r.raw for r in recs[:20]))
        missing = os.path.join(tmp, "missing.mrc")
        paths = [sample] * 6 + [missing, clean, clean, sample]
        stdin = ("\n".join(paths) + "\n").encode()
        p = subprocess.run([binary, "--threads", "2", "--clients", "3"], input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        out = p.stdout.decode()
        check(p.returncode == 0, "service (stdin) exits 0", p.returncode, p.stderr)
        ans = service_answers(out)
        check(ans.get(sample) == [(str(n), "1")] * 7, "sample answers", out)
        check(ans.get(clean) == [("20", "0")] * 2, "clean answers", out)
        check(len(ans.get(missing, [])) == 1 and ans[missing][0][0] == "ERROR",
              "missing file answer", out)
        check(len(out.splitlines()) == len(paths), "one answer per path", out)
        check("10 files served by 3 client threads" in p.stderr.decode(), "summary", p.stderr)

        # TCP: two concurrent connections, then SIGTERM.
        srv = subprocess.Popen([binary, "--threads", "2", "--clients", "2", "--listen", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = srv.stdout.readline().decode()
            check(first.startswith("listening on 127.0.0.1:"), "listening line", first)
            port = int(first.rsplit(":", 1)[1])
            results = {}

            def client(name, plist):
                s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                s.sendall(("\n".join(plist) + "\n").encode())
                s.shutdown(socket.SHUT_WR)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                results[name] = data.decode()

            t1 = threading.Thread(target=client, args=("a", [sample] * 5 + [missing]))
            t2 = threading.Thread(target=client, args=("b", [clean] * 4))
            t1.start()
            t2.start()
            t1.join(TIMEOUT)
            t2.join(TIMEOUT)
            a = service_answers(results.get("a", ""))
            b = service_answers(results.get("b", ""))
            check(a.get(sample) == [(str(n), "1")] * 5 and a[missing][0][0] == "ERROR",
                  "TCP connection a", results)
            check(b.get(clean) == [("20", "0")] * 4 and len(b) == 1, "TCP connection b", results)
            srv.send_signal(signal.SIGTERM)
            rc = srv.wait(TIMEOUT)
            err = srv.stderr.read().decode()
            check(rc == 0, "service (TCP) exits 0 on SIGTERM", rc, err)
            check("10 files served" in err, "TCP summary", err)
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()


def t_split_threads(binary, sample):
    """The ranges of a split, read by one thread each, add up to the whole file."""
    n = len(good_records(sample))
    damaged = len(marcfile.read(sample)) - n
    for parts in ("1", "3", "8", "1000"):
        rc, out, err = run([binary, sample, parts])
        check(rc == 0, "split_threads exits 0 (%s parts)" % parts, rc, err)
        words = out.split()
        check(words[0] == "ranges" and 1 <= int(words[1]) <= int(parts),
              "at most %s ranges" % parts, out)
        check(words[2:] == ["records", str(n), "errors", str(damaged)],
              "%s parts: the sums are the whole file's" % parts, out)
    rc, out, err = run([binary, "/nonexistent.mrc"])
    check(rc == 2 and "nonexistent" in err, "a missing file exits 2", rc, err)


def main():
    name, binary, sample = sys.argv[1:4]
    globals()["t_" + name](binary, sample)
    print("PASS:", name)


if __name__ == "__main__":
    main()
