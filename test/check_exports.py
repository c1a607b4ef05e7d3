#!/usr/bin/python3
"""check_exports.py - every public-looking symbol of the library is public.

Usage: check_exports.py [--nm NM] LIBMARCPIPE.a HEADER_DIR...

Fails (exit 1) when libmarcpipe.a defines a global symbol matching
^mp_[a-z] that no public header (HEADER_DIR/*.h) declares with MP_EXPORT:
internal non-static symbols take the mp__ prefix (DESIGN.md, "Names"), so
such a symbol is either a missing MP_EXPORT or a misnamed internal.
Declared-but-undefined MP_EXPORT names are reported as notes.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

PUBLIC = re.compile(r"^mp_[a-z]")


def exported_names(header_dirs):
    """Names declared with MP_EXPORT in the headers, comments and #lines removed."""
    names = {}
    for d in header_dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.h"))):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
            text = re.sub(r"//[^\n]*", " ", text)
            text = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
            # MP_EXPORT <type...> name (  |  [  |  ;  |  =
            for m in re.finditer(r"\bMP_EXPORT\b([^;({=\[]*)", text):
                ids = re.findall(r"[A-Za-z_]\w*", m.group(1))
                if ids:
                    names[ids[-1]] = os.path.basename(path)
    return names


def defined_globals(nm, lib):
    out = subprocess.run([nm, "-g", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    syms = {}
    obj = "?"
    for line in out.splitlines():
        if line.endswith(":"):
            obj = line[:-1]
            continue
        parts = line.split()
        if len(parts) >= 2:
            syms.setdefault(parts[-1], obj)
    return syms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="nm")
    ap.add_argument("lib")
    ap.add_argument("header_dirs", nargs="+")
    a = ap.parse_args()

    declared = exported_names(a.header_dirs)
    if not declared:
        print("FAIL: no MP_EXPORT declarations found in", " ".join(a.header_dirs))
        return 1
    defined = defined_globals(a.nm, a.lib)
    public = {s: o for s, o in defined.items() if PUBLIC.match(s)}
    bad = sorted(s for s in public if s not in declared)
    for s in bad:
        print(f"FAIL: {s} (defined in {public[s]}) is global but not declared MP_EXPORT in a "
              "public header: make it static, rename it mp__, or export it")
    for s in sorted(set(declared) - set(defined)):
        print(f"note: {s} is declared MP_EXPORT in {declared[s]} but not defined in the library")
    print(f"{len(public)} public symbols defined, {len(declared)} declared MP_EXPORT, "
          f"{len(bad)} not exported")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
