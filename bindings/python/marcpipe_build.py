"""The PEP 517 build backend of marcpipe (pyproject.toml: backend-path ".").

It is setuptools' backend (setup.py does the work), with one difference: a
plain virtual environment (``python3 -m venv``) of Debian 12 has setuptools 66
but not the ``wheel`` package, and setuptools before 70.1 can only make a wheel
(and even the metadata pip asks for first) through ``wheel``'s ``bdist_wheel``.
So when ``wheel`` cannot be imported this backend makes the wheel itself: it
runs setup.py's ``build_py`` and ``build_ext`` into a scratch directory and
writes the wheel (PEP 427: the files, ``METADATA``, ``WHEEL``, ``RECORD``)
with the standard library. That keeps

    pip install --no-build-isolation ./bindings/python

working offline in a plain venv; with ``wheel`` installed nothing changes.
"""

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

from setuptools import build_meta as _setuptools

HERE = os.path.dirname(os.path.abspath(__file__))
NAME, VERSION = "marcpipe", "0.1.0"  # as pyproject.toml's [project]

try:
    import wheel  # noqa: F401

    # MARCPIPE_BUILD_NO_WHEEL=1 takes the path below anyway (tests).
    _HAVE_WHEEL = not os.environ.get("MARCPIPE_BUILD_NO_WHEEL")
except ImportError:
    _HAVE_WHEEL = False

build_sdist = _setuptools.build_sdist
get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist

if _HAVE_WHEEL:
    get_requires_for_build_wheel = _setuptools.get_requires_for_build_wheel
    prepare_metadata_for_build_wheel = _setuptools.prepare_metadata_for_build_wheel
    build_wheel = _setuptools.build_wheel
else:
    # No prepare_metadata_for_build_wheel: pip then reads the metadata from
    # the wheel that build_wheel makes.

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def _tag():
        impl = "cp%d%d" % sys.version_info[:2]
        plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return f"{impl}-{impl}-{plat}"

    def _metadata():
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        return (
            "Metadata-Version: 2.1\n"
            f"Name: {NAME}\nVersion: {VERSION}\n"
            "Summary: Fast, pymarc-compatible MARC 21 reader on a lock-free "
            "multi-threaded C pipeline\n"
            "License: BSD-2-Clause\nRequires-Python: >=3.11\n"
            "Description-Content-Type: text/markdown\n\n" + readme
        )

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        tag = _tag()
        with tempfile.TemporaryDirectory(prefix="marcpipe-wheel-") as tmp:
            lib = os.path.join(tmp, "lib")
            subprocess.run(
                [sys.executable, "setup.py", "-q", "build_py", "--build-lib", lib,
                 "build_ext", "--build-lib", lib, "--build-temp", os.path.join(tmp, "obj")],
                cwd=HERE, check=True)
            info = f"{NAME}-{VERSION}.dist-info"
            extra = {
                f"{info}/METADATA": _metadata(),
                f"{info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: marcpipe_build\n"
                                  f"Root-Is-Purelib: false\nTag: {tag}\n"),
                f"{info}/top_level.txt": f"{NAME}\n",
            }
            name = f"{NAME}-{VERSION}-{tag}.whl"
            record = []
            with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                                 zipfile.ZIP_DEFLATED) as z:
                files = []
                for root, _, names in os.walk(lib):
                    files += [os.path.join(root, n) for n in names]
                for path in sorted(files):
                    arc = os.path.relpath(path, lib).replace(os.sep, "/")
                    with open(path, "rb") as f:
                        data = f.read()
                    z.writestr(arc, data)
                    record.append((arc, data))
                for arc, text in extra.items():
                    data = text.encode("utf-8")
                    z.writestr(arc, data)
                    record.append((arc, data))
                lines = []
                for arc, data in record:
                    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                    lines.append(f"{arc},sha256={digest.decode()},{len(data)}")
                lines.append(f"{info}/RECORD,,")
                z.writestr(f"{info}/RECORD", "\n".join(lines) + "\n")
        return name
