#!/bin/sh
# Installs the build tree into a scratch prefix, then builds the README
# example against it four ways - find_package(marcpipe) with the shared
# and the static library, with the shared library where no dependency has
# a pkg-config file, and pkg-config - and runs each on the sample; runs the
# installed CLI without LD_LIBRARY_PATH (RUNPATH).
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
# A shared-library consumer on a machine without the dependencies' -dev
# packages: pkg-config finds nothing, find_package(marcpipe) still works.
mkdir -p "$work/no-pc"
PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" \
  cmake -S "$src/test/install" -B "$work/shared-only" -DCMAKE_PREFIX_PATH="$work/prefix" \
        -DEXAMPLE="$src/examples/readme_example.c" -DMP_SHARED_ONLY=ON >/dev/null
cmake --build "$work/shared-only" >/dev/null
n=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/shared-only/title_shared" "$src/examples/data/sample.mrc" 2>/dev/null | wc -l)
[ "$n" -eq "$expect" ] || { echo "FAIL: shared-only consumer printed $n titles, want $expect"; exit 1; }
echo "ok: find_package(marcpipe) without the dependencies' pkg-config files (shared library)"
# ... and asking for the static component there is a clear configure error.
if PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" \
   cmake -S "$src/test/install" -B "$work/static-no-pc" -DCMAKE_PREFIX_PATH="$work/prefix" \
         -DEXAMPLE="$src/examples/readme_example.c" >"$work/static.log" 2>&1; then
    echo "FAIL: COMPONENTS static configured without the dependencies"; exit 1
fi
grep -q "libck-dev" "$work/static.log" || { echo "FAIL: no hint in:"; cat "$work/static.log"; exit 1; }
echo "ok: COMPONENTS static without the dependencies fails with a hint"
# The installed tool finds its library through RUNPATH $ORIGIN/../lib: no
# LD_LIBRARY_PATH, no ldconfig.
readelf -d "$work/prefix/bin/marcpipe" | grep -q 'RUNPATH.*\$ORIGIN/\.\./lib' \
  || { echo "FAIL: no RUNPATH \$ORIGIN/../lib"; readelf -d "$work/prefix/bin/marcpipe"; exit 1; }
n=$(env -u LD_LIBRARY_PATH "$work/prefix/bin/marcpipe" count -q "$src/examples/data/sample.mrc" || true)
[ "$n" = "$expect" ] || { echo "FAIL: installed marcpipe printed '$n', want $expect"; exit 1; }
echo "ok: prefix/bin/marcpipe runs without LD_LIBRARY_PATH"
libdir=$(ls -d "$work/prefix"/lib*/pkgconfig | head -n 1)
cc -o "$work/title_pc" "$src/examples/readme_example.c" \
   $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs marcpipe)
n=$(LD_LIBRARY_PATH="$work/prefix/lib" "$work/title_pc" "$src/examples/data/sample.mrc" 2>/dev/null | wc -l)
[ "$n" -eq "$expect" ] || { echo "FAIL: pkg-config build printed $n titles, want $expect"; exit 1; }
echo "ok: pkg-config build printed $n titles"
