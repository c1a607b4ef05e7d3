#!/bin/sh
# run_fuzz.sh TARGET_BINARY REGRESS_DIR CORPUS_DIR SECONDS [SEED_PATTERNS]
# Replays the committed regression inputs of the target (regress/<name>/),
# then fuzzes for SECONDS, seeded with the MARC files of CORPUS_DIR (when
# present: copies live only in a temporary directory, never in the repo),
# or with the files matching SEED_PATTERNS (e.g. "*.xml *.json") instead.
# New crashers are left in $MP_FUZZ_ARTIFACTS (default: the build dir).
set -eu
bin=$1; regress=$2; corpus=$3; secs=$4; patterns=${5:-}
name=$(basename "$bin"); short=${name#fuzz_}
work=$(mktemp -d "${TMPDIR:-/tmp}/mp-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
art=${MP_FUZZ_ARTIFACTS:-$(pwd)}
mkdir -p "$work/corpus"
if [ -d "$regress/$short" ] && [ -n "$(ls -A "$regress/$short" 2>/dev/null)" ]; then
    echo "replaying $(ls "$regress/$short" | wc -l) regression inputs of $name"
    "$bin" -runs=0 "$regress/$short"/* 2>&1 | tail -n 3
    cp "$regress/$short"/* "$work/corpus/"
fi
if [ -d "$corpus" ]; then
    n=0
    set -f  # the patterns go to find unexpanded
    if [ -n "$patterns" ]; then
        names=""
        for p in $patterns; do names="$names${names:+ -o} -name $p"; done
    else
        names="-name *.mrc -o -name *.dat -o -name *.usmarc -o -name *.marc"
    fi
    # shellcheck disable=SC2086
    files=$(find "$corpus" -type f \( $names \) -size -64k)
    set +f
    for f in $files; do
        n=$((n + 1)); cp "$f" "$work/corpus/seed$n"
    done
    # The big realworld file: a 16 KiB slice as a seed.
    big="$corpus/realworld/watson_mma_pubs_2025_04.mrc"
    [ -f "$big" ] && head -c 16384 "$big" >"$work/corpus/realworld-head"
    echo "seeded with $n corpus files"
else
    echo "SKIP (partly): corpus $corpus absent; fuzzing from the regression inputs only"
    [ -n "$(ls -A "$work/corpus")" ] || printf '00026nam a2200025 a 4500\036\035' >"$work/corpus/min"
fi
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$art/$name-" -print_final_stats=1 "$work/corpus" 2>"$work/log" || {
    tail -n 60 "$work/log"; echo "FUZZ FAILURE in $name: crasher saved under $art/$name-*"; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^Done" "$work/log" || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "$name: ${execs:-?} executions in ${secs}s, 0 crashes"
