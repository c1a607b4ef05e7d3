#!/usr/bin/python3
"""YAZ oracle for test/marc8_test.c.

Usage: marc8_yaz_oracle.py FILE

Splits FILE into records by the leader length (the same minimal rule as
the C test: stop at the first leader that is not 5 digits or runs past the
end), runs `yaz-marcdump -f marc8 -t utf8 -o marcxml` on every record whose
leader/09 is blank, one record at a time so a damaged record cannot shift
the others, and prints for each:

    R <index>                      a MARC-8 record follows
    F <tag> <hex of NFC UTF-8>     one field, in yaz's order; a data field's
                                   value is ("\\x1f" code text)* without the
                                   indicators
    X <index> <reason>             yaz could not convert the record
"""

import os
import subprocess
import sys
import tempfile
import unicodedata
import xml.etree.ElementTree as ET

NS = "{http://www.loc.gov/MARC21/slim}"


def split_records(data):
    off = 0
    while off + 24 <= len(data):
        head = data[off:off + 5]
        if not head.isdigit():
            return
        n = int(head)
        if n < 25 or off + n > len(data):
            return
        yield data[off:off + n]
        off += n


def nfc_hex(s):
    return unicodedata.normalize("NFC", s).encode("utf-8").hex() or "-"


def main():
    data = open(sys.argv[1], "rb").read()
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="mp_marc8_oracle_") as tmp:
        path = os.path.join(tmp, "rec.mrc")
        for idx, rec in enumerate(split_records(data)):
            if rec[9:10] != b" ":
                continue
            with open(path, "wb") as f:
                f.write(rec)
            p = subprocess.run(["yaz-marcdump", "-f", "marc8", "-t", "utf8", "-o", "marcxml", path],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
            try:
                root = ET.fromstring(p.stdout)
                r = root.find(NS + "record")
                if r is None:
                    raise ValueError("no record")
            except (ET.ParseError, ValueError) as e:
                out.write("X %d %s\n" % (idx, str(e).replace("\n", " ")))
                continue
            out.write("R %d\n" % idx)
            for el in r:
                if el.tag == NS + "controlfield":
                    out.write("F %s %s\n" % (el.get("tag"), nfc_hex(el.text or "")))
                elif el.tag == NS + "datafield":
                    val = "".join("\x1f" + (sf.get("code") or "") + (sf.text or "")
                                  for sf in el.findall(NS + "subfield"))
                    out.write("F %s %s\n" % (el.get("tag"), nfc_hex(val)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
