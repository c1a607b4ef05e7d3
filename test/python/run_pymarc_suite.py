#!/usr/bin/python3
"""pymarc 5.3.1's own test suite against this build's binding (ctest pymarc_suite).

    run_pymarc_suite.py PYTHONPATH_OF_MARCPIPE SOURCE_DIR

Runs ../shared/tools/pymarc-suite/run (beside the source tree, as in CI) with
the built package, then checks the outcome of every test against
test/python/pymarc_suite_expected_failures.txt: a test not listed must pass;
a listed one must fail (it waits for the feature of the issue named there,
or shows a documented difference) - one that passes has to leave the list,
one that no longer exists too.
Prints pytest's summary line and the verdict. Exit 0 pass, 1 fail, 77 skip
(the suite or pymarc's sources are not there).
"""

import os
import re
import subprocess
import sys


def main():
    pydir, src = sys.argv[1:3]
    run = os.path.normpath(os.path.join(src, "..", "shared", "tools", "pymarc-suite", "run"))
    if not os.access(run, os.X_OK):
        print(f"SKIP: {run} not found (pymarc-suite beside the source tree)")
        return 77
    listed = {}
    with open(os.path.join(src, "test", "python", "pymarc_suite_expected_failures.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test, _, why = line.partition(" ")
                listed[test] = why.strip()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([run, pydir, "-q", "-rA", "-p", "no:randomly", "-W", "ignore"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=900)
    out = p.stdout.decode("utf-8", "replace")
    outcome = {}
    for m in re.finditer(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\s+(\S+)", out, re.M):
        outcome[m.group(2)] = m.group(1)
    summary = [l for l in out.splitlines() if re.search(r"\d+ (passed|failed)", l)]
    print("pymarc-suite:", summary[-1].strip("= ") if summary else "(no summary)")
    bad = []
    for test, res in sorted(outcome.items()):
        if test in listed and res == "PASSED":
            bad.append(f"now passes, remove it from the list: {test}")
        elif test not in listed and res not in ("PASSED", "SKIPPED", "XFAIL"):
            bad.append(f"{res}: {test}")
    for test in listed:
        if test not in outcome:
            bad.append(f"listed but not run (renamed or gone?): {test}")
    n_pass = sum(1 for r in outcome.values() if r == "PASSED")
    waits = sum(1 for why in listed.values() if why.startswith("#"))
    print(f"pymarc-suite: {n_pass} passed, {len(listed)} expected failures ({waits} wait for "
          f"open issues, {len(listed) - waits} CSV or documented differences), "
          f"{len(bad)} unexpected")
    if bad or not outcome:
        print("\n".join(bad) or "no test outcome parsed")
        print(out[-6000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
