#!/bin/sh
# Installs the Debian packages marcpipe needs, when they are missing.
# Usage: .ci/deps.sh run|test|bench
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu
set_name=${1:-test}
base="gcc make cmake pkg-config libck-dev liburcu-dev libutf8proc-dev python3-dev python3-setuptools"
testpk="clang-format libcriterion-dev python3-pytest python3-venv python3-pip python3-dask python3-distributed python3-pandas yaz libyaz-dev libxml2-utils clang-14 libfuzzer-14-dev libclang-rt-14-dev spin valgrind"
benchpk="hyperfine gnuplot-nox libmarc-record-perl linux-perf"
case "$set_name" in
  run) want="$base" ;;
  test) want="$base $testpk" ;;
  bench) want="$base $testpk $benchpk" ;;
  *) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "marcpipe: missing Debian packages:$missing" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "marcpipe: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends $missing >/dev/null
