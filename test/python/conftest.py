"""pytest setup for the marcpipe binding: corpus location, build-path import."""

import os
import pathlib
import signal

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def corpus_dir() -> pathlib.Path:
    env = os.environ.get("MARCPIPE_CORPUS")
    return pathlib.Path(env) if env else (ROOT.parent / "shared" / "data")


CORPUS = corpus_dir()

# The Ctrl-C tests send SIGINT to this process and to child interpreters. A
# shell running a job in the background without job control starts it with
# SIGINT ignored, Python then installs no handler, and those tests would wait
# forever for a KeyboardInterrupt: put Python's own handler back (a handled
# signal is reset to the default across exec, so children get theirs too).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"SKIP: corpus not found at {CORPUS} (set MARCPIPE_CORPUS)")
    return CORPUS


@pytest.fixture
def pymarc_dir(corpus):
    d = corpus / "pymarc"
    if not d.is_dir():
        pytest.skip(f"SKIP: {d} missing")
    return d


def make_record(fields, leader_9="a", status="n"):
    """ISO 2709 bytes for [(tag, ind1+ind2 or None, [(code, value)] or data)]."""
    body = b""
    directory = b""
    for tag, ind, content in fields:
        if ind is None:
            data = content.encode() + b"\x1e"
        else:
            data = ind.encode() + b"".join(b"\x1f" + c.encode() + v.encode() for c, v in content) + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(data), len(body))
        body += data
    directory += b"\x1e"
    base = 24 + len(directory)
    total = base + len(body) + 1
    leader = b"%05d%sam %s22%05d   4500" % (total, status.encode(), leader_9.encode(), base)
    assert len(leader) == 24
    return leader + directory + body + b"\x1d"
