"""`pip install --no-build-isolation ./bindings/python` works offline.

Builds the binding from the checkout into throw-away virtual environments
and reads a record with the installed copy, from outside the source tree:
a plain `python3 -m venv` (Debian 12: setuptools 66 without the `wheel`
package, so bindings/python/marcpipe_build.py makes the wheel; forced with
MARCPIPE_BUILD_NO_WHEEL=1 so the path is tested everywhere), and one with
the system site packages (Debian's python3-wheel: setuptools makes it).
The plain one is also uninstalled again (the wheel's RECORD is right).
"""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, make_record


@pytest.mark.skipif(os.environ.get("MP_SANITIZED") == "1",
                    reason="the pip build is not sanitized; covered by the plain run")
@pytest.mark.parametrize("plain", [True, False], ids=["plain-venv", "system-site-packages"])
def test_pip_install_no_build_isolation(tmp_path, plain):
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv"] + ([] if plain else ["--system-site-packages"])
                          + [str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip("SKIP: python3 -m venv unavailable (Debian: python3-venv): "
                    + made.stderr[-200:])
    py = str(venv / "bin" / "python")
    # The plain venv builds through marcpipe_build's own wheel writer even
    # where a `wheel` package is around (MARCPIPE_BUILD_NO_WHEEL).
    env = dict(os.environ, MARCPIPE_BUILD_NO_WHEEL="1") if plain else None
    inst = subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                           str(ROOT / "bindings" / "python")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert inst.returncode == 0, inst.stdout[-2000:] + inst.stderr[-2000:]
    data = make_record([("001", None, "x1"), ("245", "10", [("a", "Installed title")])])
    sample = tmp_path / "one.mrc"
    sample.write_bytes(data)
    code = ("import marcpipe, sys\n"
            "assert 'site-packages' in marcpipe.__file__, marcpipe.__file__\n"
            "recs = list(marcpipe.MARCReader(sys.argv[1]))\n"
            "print(len(recs), recs[0]['245']['a'])\n")
    run = subprocess.run([py, "-c", code, str(sample)], capture_output=True, text=True,
                         cwd=str(tmp_path), env={k: v for k, v in os.environ.items()
                                                 if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["1", "Installed", "title"]
    if plain:
        out = subprocess.run([py, "-m", "pip", "uninstall", "-y", "-q", "marcpipe"],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        gone = subprocess.run([py, "-c", "import marcpipe"], capture_output=True,
                              cwd=str(tmp_path), env={k: v for k, v in os.environ.items()
                                                      if k != "PYTHONPATH"})
        assert gone.returncode != 0
