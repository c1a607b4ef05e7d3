#!/bin/sh
# Installs the build tree into a scratch prefix, then builds the README
# example against it three ways - find_package(marcpipe) with the shared
# and the static library, and pkg-config - and runs each on the sample.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/test/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DEXAMPLE="$src/examples/readme_example.c" >/dev/null
cmake --build "$work/consumer" >/dev/null
# Every good record of the sample has a 245 $a: one title per record.
expect=$(cat "$src/test/cli/golden/sample.count")
for exe in "$work/consumer/title_shared" "$work/consumer/title_static"; do
    n=$(LD_LIBRARY_PATH="$work/prefix/lib" "$exe" "$src/examples/data/sample.mrc" 2>/dev/null | wc -l)
    [ "$n" -eq "$expect" ] || { echo "FAIL: $exe printed $n titles, want $expect"; exit 1; }
    echo "ok: $(basename "$exe") printed $n titles"
done
libdir=$(ls -d "$work/prefix"/lib*/pkgconfig | head -n 1)
cc -o "$work/title_pc" "$src/examples/readme_example.c" \
   $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs marcpipe)
n=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/title_pc" "$src/examples/data/sample.mrc" 2>/dev/null | wc -l)
[ "$n" -eq "$expect" ] || { echo "FAIL: pkg-config build printed $n titles, want $expect"; exit 1; }
echo "ok: pkg-config build printed $n titles"
