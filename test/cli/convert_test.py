#!/usr/bin/python3
"""Tests of `marcpipe convert` (and dump, a convert to the line format).

    convert_test.py CASE CLI SAMPLE

Cases:
  iso_copy       ISO 2709 -> ISO 2709: bytes identical for undamaged UTF-8
                 records (the whole realworld file), MARC-8 ones rebuilt as
                 UTF-8, --damaged skip/write/stop, stdin/stdout/--output
  formats        every -o parses as what it claims (JSON array, NDJSON,
                 MARCXML, MRK, line = dump) and holds the same records
  xml_schema     MARCXML of every corpus file: each record whose own content
                 matches MARC21slim.xsd's patterns validates (xmllint
                 --schema); the others are counted and shown
  xml_yaz        MARCXML of every corpus file read back by yaz-marcdump -i
                 marcxml -o marc gives the same records (field by field)
  vs_pymarc      -o ndjson --spaced-json --ascii --keep-leader equals
                 pymarc 5.3.1's as_json() per record; -o json / mrk / compact
                 marcxml equal pymarc's JSONWriter / TextWriter / XMLWriter
                 output byte for byte
  progress       a progress bar on a terminal stderr, as for stats
  usage          bad option combinations, unwritable outputs: exit 2
Exit status 0 pass, 1 fail, 77 skip (printed as "SKIP: ...").
"""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import marcfile  # noqa: E402

TIMEOUT = 300
CLI = SAMPLE = None
CORPUS = os.environ.get("MARCPIPE_CORPUS", os.path.join(ROOT, "..", "shared", "data"))
PYMARC = os.environ.get("MARCPIPE_PYMARC",
                        os.path.join(CORPUS, "..", "peers", "pymarc-5.3.1"))
XSD = os.path.join(CORPUS, "marcxml", "MARC21slim.xsd")
NS = "{http://www.loc.gov/MARC21/slim}"


def run(args, input=None, stdin=None):
    p = subprocess.run([CLI] + args, input=input, stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
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


def corpus_files():
    if not os.path.isdir(CORPUS):
        return []
    out = []
    for d, _, names in os.walk(CORPUS):
        out += [os.path.join(d, n) for n in names
                if n.endswith((".mrc", ".marc", ".dat", ".usmarc"))]
    return sorted(out)


def realworld():
    p = os.path.join(CORPUS, "realworld", "watson_mma_pubs_2025_04.mrc")
    return p if os.path.exists(p) else None


def split_iso(blob):
    """Records of an ISO 2709 stream by their stated lengths."""
    recs, i = [], 0
    while i < len(blob):
        n = int(blob[i:i + 5])
        recs.append(blob[i:i + n])
        i += n
    return recs


# ---- iso_copy --------------------------------------------------------------------

def t_iso_copy():
    rw = realworld()
    if rw:
        rc, out, err = run(["convert", "-o", "iso2709", rw])
        with open(rw, "rb") as f:
            check(rc == 0 and out == f.read(), "realworld copied byte for byte", rc, err)
        rc, out2, err = run(["convert", "-o", "marc", "--sequential", rw])
        check(rc == 0 and out2 == out, "yaz's name 'marc', sequential reader", rc, err)

    sample = marcfile.read(SAMPLE)
    good = [r for r in sample if not r.damaged]
    rc, out, err = run(["convert", "-o", "iso2709", SAMPLE])
    check(rc == 1, "one damaged record in the sample: exit 1", rc, err)
    check("mp000060" in err and len(err.strip().splitlines()) == 1, "one error item", err)
    recs = split_iso(out)
    check(len(recs) == len(good), "every good record written", len(recs), len(good))
    for want, got in zip(good, recs):
        if want.leader[9] == "a":
            check(got == want.raw, "UTF-8 record identical", want.offset)
        else:  # MARC-8: rebuilt as UTF-8, leader/09 'a'
            check(got[9:10] == b"a" and got != want.raw, "MARC-8 record rebuilt", got[:24])
            g = marcfile.Record(0, got)
            check(not g.damaged and len(g.fields) == len(want.fields), "rebuilt record parses")
            check("Dvořák" in got.decode("utf-8"), "MARC-8 text converted")

    rc, out, err = run(["convert", "-o", "iso2709", "--damaged", "write", SAMPLE])
    check(rc == 1 and len(split_iso(out)) == len(good) + 1, "--damaged write", rc, err)
    rc, out, err = run(["convert", "-o", "iso2709", "--damaged", "stop", SAMPLE])
    first_bad = next(i for i, r in enumerate(sample) if r.damaged)
    check(rc == 1 and len(split_iso(out)) == first_bad and "--damaged stop" in err,
          "--damaged stop ends at the damaged record", rc, err, len(split_iso(out)))

    with open(SAMPLE, "rb") as f:
        data = f.read()
    rc, out_stdin, err = run(["convert", "-o", "iso2709", "-q", "-"], input=data)
    rc2, out_file, _ = run(["convert", "-o", "iso2709", "-q", SAMPLE])
    check(rc == 1 and out_stdin == out_file and err == "", "stdin input, --quiet", rc, err)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.mrc")
        rc, out, err = run(["convert", "-o", "iso2709", "-q", "--output", path, SAMPLE, SAMPLE])
        with open(path, "rb") as f:
            check(rc == 1 and out == b"" and f.read() == out_file * 2,
                  "--output FILE, two inputs in one stream", rc, err)


# ---- formats -----------------------------------------------------------------------

def t_formats():
    good = [r for r in marcfile.read(SAMPLE) if not r.damaged]
    n = len(good)
    rc, out, err = run(["convert", "-o", "json", "-q", SAMPLE])
    arr = json.loads(out)
    check(rc == 1 and isinstance(arr, list) and len(arr) == n, "-o json is one array", rc, err)
    check(out.startswith(b"[\n{") and out.endswith(b"}\n]\n") and out.count(b"\n") == n + 2,
          "one record per line inside the array", out[:80], out[-80:])
    rc, out, err = run(["convert", "-o", "ndjson", "-q", SAMPLE])
    lines = out.decode().splitlines()
    check(len(lines) == n and [json.loads(x) for x in lines] == arr, "-o ndjson", len(lines))
    rc, dump, _ = run(["dump", "--json", "-q", SAMPLE])
    check(dump == out, "dump --json is convert -o ndjson")
    for rec, obj in zip(good, arr):
        check(obj["leader"][:9] == rec.leader[:9] and obj["leader"][9] == "a"
              and obj["leader"][10:] == rec.leader[10:], "leader (09 says UTF-8)", obj["leader"])
        tags = [list(f)[0] for f in obj["fields"]]
        check(tags == [f[0] for f in rec.fields], "field order", tags)
        for f, o in zip(rec.fields, obj["fields"]):
            if len(f) == 4:
                v = o[f[0]]
                check(list(v) == ["ind1", "ind2", "subfields"], "pymarc's key order", v)
                check([list(s.items())[0] for s in v["subfields"]] == f[3] or rec.leader[9] != "a",
                      "subfields", v, f)

    rc, out, err = run(["convert", "-o", "marcxml", "-q", SAMPLE])
    root = ET.fromstring(out)
    check(root.tag == NS + "collection" and len(root) == n, "-o marcxml: one collection", len(root))
    check(out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n'), "XML declaration")
    rc, out2, err = run(["convert", "-o", "xml", "--compact-xml", "-q", SAMPLE])
    check(b"\n" not in out2 and len(ET.fromstring(out2)) == n, "--compact-xml: no line breaks")
    rc, out3, err = run(["convert", "-o", "xml", "--ascii", "-q", SAMPLE])
    check(max(out3) < 0x80 and b"&#345;" in out3, "--ascii: character references only")

    rc, out, err = run(["convert", "-o", "mrk", "-q", SAMPLE])
    recs = out.decode().split("\n\n")
    check(len(recs) == n and recs[0].startswith("=LDR  " + good[0].leader), "-o mrk", recs[0][:80])
    check(re.search(r"^=245  10\$a", recs[0], re.M), "MRK data field line", recs[0])
    rc, out, err = run(["convert", "-o", "line", "-q", SAMPLE])
    rc2, dump, _ = run(["dump", "-q", SAMPLE])
    check(out == dump and rc == rc2 == 1, "dump is convert -o line")
    rc, out, err = run(["convert", "-q", SAMPLE])
    check(out == dump, "line is convert's default (as yaz-marcdump's)")


# ---- xml_schema ----------------------------------------------------------------------

# The patterns of MARC21slim.xsd (version 1.2), per element.
LEADER = re.compile(r"[\d ]{5}[\dA-Za-z ]{1}[\dA-Za-z]{1}[\dA-Za-z ]{3}(2| )(2| )[\d ]{5}"
                    r"[\dA-Za-z ]{3}(4500|    )\Z")
CTAG = re.compile(r"00[1-9A-Za-z]\Z")
DTAG = re.compile(r"(0([1-9A-Z][0-9A-Z])|0([1-9a-z][0-9a-z]))\Z|(([1-9A-Z][0-9A-Z]{2})|"
                  r"([1-9a-z][0-9a-z]{2}))\Z")
IND = re.compile(r"[\da-z ]\Z")
CODE = re.compile(r"[\dA-Za-z!\"#$%&'()*+,\-./:;<=>?{}_^`~\[\]\\]\Z")


def content_ok(rec):
    """Why the record's own content breaks a schema pattern, or None."""
    if not LEADER.match(rec.find(NS + "leader").text or ""):
        return "leader"
    for f in rec:
        if f.tag == NS + "controlfield" and not CTAG.match(f.get("tag")):
            return "controlfield tag %r" % f.get("tag")
        if f.tag == NS + "datafield":
            if not DTAG.match(f.get("tag")):
                return "datafield tag %r" % f.get("tag")
            if len(f) == 0:
                return "datafield without subfields"
            if not IND.match(f.get("ind1")) or not IND.match(f.get("ind2")):
                return "indicators %r %r" % (f.get("ind1"), f.get("ind2"))
            for s in f:
                if not CODE.match(s.get("code")):
                    return "code %r" % s.get("code")
    return None


def xmllint(path):
    p = subprocess.run(["xmllint", "--noout", "--schema", XSD, path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def t_xml_schema():
    if shutil.which("xmllint") is None:
        skip("xmllint not installed (Debian package libxml2-utils)")
    if not os.path.exists(XSD):
        skip("%s not found (set MARCPIPE_CORPUS)" % XSD)
    files = corpus_files() + [SAMPLE]
    valid = bad_content = 0
    reasons = {}
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n' \
           b'<collection xmlns="http://www.loc.gov/MARC21/slim">\n'
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            for extra in ([], ["--damaged", "write"], ["--encoding", "raw", "--damaged", "write"]):
                rc, out, err = run(["convert", "-o", "marcxml", "-q"] + extra + [path])
                check(rc in (0, 1), "%s: convert %s" % (path, extra), rc, err)
                # Records start on a line "<record>" and end on "</record>".
                blocks = re.findall(rb"^<record>\n.*?^</record>\n", out, re.M | re.S)
                keep = []
                for b in blocks:
                    rec = ET.fromstring(head + b + b"</collection>")[0]
                    why = content_ok(rec)
                    if why is None:
                        keep.append(b)
                    else:
                        bad_content += 1
                        reasons[why] = reasons.get(why, 0) + 1
                if not keep:
                    continue
                x = os.path.join(tmp, "x.xml")
                with open(x, "wb") as f:
                    f.write(head + b"".join(keep) + b"</collection>\n")
                rc, msg = xmllint(x)
                check(rc == 0, "%s %s: MARCXML valid against MARC21slim.xsd" % (path, extra),
                      msg[:2000])
                valid += len(keep)
    check(valid > 4000, "records validated", valid)
    print("validated %d records; %d records break the schema's patterns in their own content: %s"
          % (valid, bad_content, sorted(reasons.items(), key=lambda kv: -kv[1])[:8]))


# ---- xml_yaz -------------------------------------------------------------------------

def fields_of_dump(blob):
    """Records of a line dump, leader lines dropped (yaz recomputes lengths)."""
    return [r.split("\n", 1)[1] if "\n" in r else "" for r in
            blob.decode("utf-8", "replace").split("\n\n") if r.strip()]


def t_xml_yaz():
    yaz = shutil.which("yaz-marcdump")
    if yaz is None:
        skip("yaz-marcdump not installed")
    files = [SAMPLE] + corpus_files()
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            x = os.path.join(tmp, "x.xml")
            m = os.path.join(tmp, "x.mrc")
            # --strict: records with warnings (stages/FRAMING.md) may hold
            # bytes MARCXML cannot carry (a control character as indicator
            # becomes U+FFFD); the round trip is checked on clean records.
            rc, _, err = run(["convert", "--strict", "-o", "marcxml", "-q", "--output", x, path])
            check(rc in (0, 1), "convert %s" % path, rc, err)
            with open(m, "wb") as f:
                p = subprocess.run([yaz, "-i", "marcxml", "-o", "marc", x], stdout=f,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT)
            check(p.returncode == 0, "yaz-marcdump reads our MARCXML of %s" % path, p.stderr)
            rc1, a, _ = run(["dump", "--strict", "-q", path])
            rc2, b, err = run(["dump", "-q", m])
            check(rc2 == 0, "yaz's ISO 2709 of our MARCXML reads cleanly: %s" % path, err)
            fa, fb = fields_of_dump(a), fields_of_dump(b)
            check(len(fa) == len(fb), "record count %s" % path, len(fa), len(fb))
            for i, (u, v) in enumerate(zip(fa, fb)):
                check(u == v, "%s record %d equal after MARCXML and back" % (path, i), u, v)
            total += len(fa)
    check(total > 4000, "records compared", total)
    print("%d records of %d files equal after MARCXML -> yaz-marcdump -> ISO 2709" % (total, len(files)))


# ---- vs_pymarc ----------------------------------------------------------------------

def t_vs_pymarc():
    if not os.path.isdir(os.path.join(PYMARC, "pymarc")):
        skip("pymarc 5.3.1 not found at %s (set MARCPIPE_PYMARC)" % PYMARC)
    sys.path.insert(0, PYMARC)
    import pymarc
    # Files both read the same way (pymarc's reader and control-field rule
    # agree with marcpipe's on them; every record reads cleanly in both).
    names = ("watson_mma_pubs_2025_04.mrc", "test.dat", "marc.dat", "camel.usmarc", "one.dat",
             "marc8.dat", "diacritic.dat", "multi_isbn.dat", "utf8_with_leader_flag.dat",
             "utf8_errors.dat")
    files = [p for p in corpus_files() if os.path.basename(p) in names]
    if not files:
        skip("corpus not found")
    total = 0
    for path in files:
        with open(path, "rb") as f:
            recs = list(pymarc.MARCReader(f))
        check(all(r is not None for r in recs), "pymarc reads %s cleanly" % path)
        rc, out, err = run(["convert", "-q", "-o", "ndjson", "--spaced-json", "--ascii",
                            "--keep-leader", path])
        lines = out.decode("ascii").splitlines()
        check(rc == 0 and len(lines) == len(recs), "%s: all records" % path, rc, err)
        for i, (r, line) in enumerate(zip(recs, lines)):
            check(r.as_json() == line, "%s record %d: as_json() byte for byte" % (path, i),
                  r.as_json()[:400], line[:400])
        total += len(recs)
        # Whole-file writers.
        s = io.StringIO()
        w = pymarc.JSONWriter(s)
        for r in recs:
            w.write(r)
        w.close(close_fh=False)
        rc, out, err = run(["convert", "-q", "-o", "json", "--ascii", "--keep-leader", path])
        check(out.decode().replace("\n", "") == s.getvalue(), "%s: JSONWriter" % path)
        s = io.StringIO()
        w = pymarc.TextWriter(s)
        for r in recs:
            w.write(r)
        w.close(close_fh=False)
        rc, out, err = run(["convert", "-q", "-o", "mrk", path])
        check(out.decode() == s.getvalue(), "%s: TextWriter" % path)
        b = io.BytesIO()
        w = pymarc.XMLWriter(b)
        for r in recs:
            w.write(r)
        w.close(close_fh=False)
        rc, out, err = run(["convert", "-q", "-o", "marcxml", "--compact-xml", "--keep-leader",
                            path])
        check(out == b.getvalue(), "%s: XMLWriter" % path)
    check(total > 3945, "records compared", total)
    print("as_json, JSONWriter, TextWriter, XMLWriter equal on %d records of %d files"
          % (total, len(files)))


# ---- progress ----------------------------------------------------------------------------

def t_progress():
    """A progress bar on a terminal stderr while writing to a file (as for
    stats), none when the records go to that terminal, and the output is
    unaffected either way."""
    import pty
    import select
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.mrc")
        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "data", "make_sample.py"),
                        big, "--records", "3000"], check=True, timeout=TIMEOUT)
        out = os.path.join(tmp, "out.xml")
        env = dict(os.environ, MARCPIPE_PROGRESS_DELAY="0")

        def on_tty(argv, stdout):
            """Runs with stderr on a terminal (stdout too when stdout is None)."""
            master, slave = pty.openpty()
            p = subprocess.Popen([CLI] + argv, stdout=slave if stdout is None else stdout,
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
            rc = p.wait(TIMEOUT)
            os.close(master)
            return rc, tty

        rc, tty = on_tty(["convert", "-o", "marcxml", "--chunk-size", "4K", "--output", out, big],
                         subprocess.DEVNULL)
        check(rc == 1 and b"rec/s" in tty, "progress bar drawn while converting to a file", rc,
              tty[-400:])
        check(tty.rfind(b"\r\x1b[K") > tty.rfind(b"rec/s"), "the last bar is cleared", tty[-300:])
        root = ET.parse(out).getroot()
        check(len(root) == 2999, "output complete", len(root))
        rc, tty = on_tty(["convert", "-o", "line", big], None)  # records to the terminal
        check(rc == 1 and b"rec/s" not in tty and b"001 mp000001" in tty,
              "no bar when the records go to the terminal", rc, tty[-300:])


# ---- usage -----------------------------------------------------------------------------

def t_usage():
    for bad in (["convert", "-o", "bogus", SAMPLE], ["convert", "-i", "bogus", SAMPLE],
                ["dump", "-o", "marcxml", SAMPLE], ["count", "--output", "x", SAMPLE],
                ["stats", "-o", "json", SAMPLE], ["convert", "--json", SAMPLE],
                ["convert", "--damaged", "maybe", SAMPLE], ["count", "--keep-leader", SAMPLE],
                ["convert", "--output", "/nonexistent-dir/x", SAMPLE]):
        rc, out, err = run(bad)
        check(rc == 2 and out == b"", "exit 2: %s" % bad, rc, err)
    if os.path.exists("/dev/full"):
        rc, out, err = run(["convert", "-o", "marcxml", "--output", "/dev/full", SAMPLE])
        check(rc == 2 and "cannot write the output" in err, "a full device: exit 2", rc, err)
    rc, out, err = run(["convert", "-i", "marc", "-f", "marc8", "-o", "line", "-q", SAMPLE])
    check(rc in (0, 1) and out, "-i marc, -f marc8 (yaz-marcdump's letters)", rc, err)


def main():
    global CLI, SAMPLE
    case, CLI, SAMPLE = sys.argv[1:4]
    globals()["t_" + case]()
    print("PASS:", case)


if __name__ == "__main__":
    main()
