"""Builds marcpipe._marcpipe offline, from a clean checkout, with Debian's setuptools.

    pip install --no-build-isolation ./bindings/python

The extension is compiled together with the library sources (core/src and
stages/src of this repository), so no installed libmarcpipe is needed; the
system libraries come from pkg-config (ck, liburcu-bp, liburcu-cds,
libutf8proc, libxml-2.0, yajl). MARCPIPE_SRC may point at the repository root when the
package directory was copied elsewhere.
"""

import glob
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MARCPIPE_SRC") or os.path.normpath(os.path.join(HERE, "..", ".."))


def pkg_config(*args):
    out = subprocess.run(["pkg-config", *args, "ck", "liburcu-bp", "liburcu-cds", "libutf8proc",
                          "libxml-2.0", "yajl"],
                         check=True, capture_output=True, text=True).stdout
    return shlex.split(out)


if not os.path.isdir(os.path.join(ROOT, "core", "src")):
    raise SystemExit(f"marcpipe: library sources not found under {ROOT} (set MARCPIPE_SRC)")

# setuptools accepts only paths relative to setup.py: mirror the library
# sources into build/ (ignored by git) and compile them from there.
lib_sources = []
for comp in ("core", "stages"):
    dst = os.path.join(HERE, "build", "libsrc", comp)
    os.makedirs(dst, exist_ok=True)
    for src in sorted(glob.glob(os.path.join(ROOT, comp, "src", "*.c"))):
        target = os.path.join(dst, os.path.basename(src))
        with open(src, "rb") as f:
            data = f.read()
        if not os.path.exists(target) or open(target, "rb").read() != data:
            with open(target, "wb") as f:
                f.write(data)
        lib_sources.append(os.path.relpath(target, HERE))
# One C file per type, plus the record layout built in the workers (layout.c).
sources = ["src/module.c", "src/record.c", "src/reader.c", "src/pool.c", "src/text.c",
           "src/layout.c"]
sources += lib_sources

ext = Extension(
    "marcpipe._marcpipe",
    sources=sources,
    include_dirs=[os.path.join(ROOT, "core", "include"), os.path.join(ROOT, "stages", "include"),
                  os.path.join(ROOT, "core", "src"), os.path.join(ROOT, "stages", "src")],
    define_macros=[("_GNU_SOURCE", None), ("MP_STATIC_DEFINE", None)],
    extra_compile_args=["-std=c11", "-O3", "-fvisibility=hidden"] + pkg_config("--cflags"),
    extra_link_args=pkg_config("--libs") + ["-lpthread", "-lm"],
)

setup(ext_modules=[ext])
