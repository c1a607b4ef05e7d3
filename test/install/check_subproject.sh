#!/bin/sh
# marcpipe as a subproject: a parent project add_subdirectory()s the source
# tree and links marcpipe::marcpipe and marcpipe::marcpipe_static. Checks,
# on the generated build system (configure only, nothing is compiled):
#  - our tests, perf tools, examples and the Python extension are not built
#    (MP_BUILD_* depend on PROJECT_IS_TOP_LEVEL);
#  - the parent's flags stay its own (no -Wshadow, its own -O1), while
#    marcpipe's targets get marcpipe_build_flags (-Wshadow, -O3).
# Usage: check_subproject.sh SOURCE_DIR
set -eu
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/parent"
cat >"$work/parent/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.21)
project(parent C)
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O1 -g")
add_subdirectory("$src" marcpipe)
add_executable(parent_shared main.c)
target_link_libraries(parent_shared PRIVATE marcpipe::marcpipe)
add_executable(parent_static main.c)
target_link_libraries(parent_static PRIVATE marcpipe_static)
CMAKE
printf '#include <marcpipe/marcpipe.h>\nint main(void) { return mp_version()[0] != 0 ? 0 : 1; }\n' \
    >"$work/parent/main.c"
cmake -S "$work/parent" -B "$work/build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; echo "FAIL: configure"; exit 1; }
fail=0
targets=$(cmake --build "$work/build" --target help)
for t in marcpipe marcpipe_static marcpipe_cli parent_shared parent_static; do
    echo "$targets" | grep -qx "\.\.\. $t" || { echo "FAIL: target $t missing"; fail=1; }
done
for t in ring_test reader_test stress_rings mpbench mpstress example_readme_example marcpipe_python; do
    echo "$targets" | grep -qx "\.\.\. $t" && { echo "FAIL: $t is built in a subproject"; fail=1; }
done
parent_flags=$(grep '^C_FLAGS' "$work/build/CMakeFiles/parent_shared.dir/flags.make")
core_flags=$(grep '^C_FLAGS' "$work/build/marcpipe/CMakeFiles/marcpipe_core_objects.dir/flags.make")
case "$parent_flags" in
*-Wshadow* | *-O3*) echo "FAIL: marcpipe's flags leak into the parent: $parent_flags"; fail=1 ;;
esac
case "$parent_flags" in
*"-O1 -g"*) ;;
*) echo "FAIL: the parent's CMAKE_C_FLAGS_RELWITHDEBINFO was overridden: $parent_flags"; fail=1 ;;
esac
case "$core_flags" in
*-Wshadow*-O3* | *-O3*-Wshadow*) ;;
*) echo "FAIL: marcpipe's own targets lost marcpipe_build_flags: $core_flags"; fail=1 ;;
esac
[ $fail -eq 0 ] && echo "ok: subproject build system as expected"
exit $fail
