#!/usr/bin/env bash
# tests/run_all.sh - run test binaries, print their output, and end with one line
# `N passed, N failed` summing their `name: N passed, N failed` lines.
#
#   usage: tests/run_all.sh [binary ...]        (default: build/test_*)
#   env:   RUNNER        command to run each binary under (e.g. "valgrind --error-exitcode=1")
#          TEST_TIMEOUT  seconds allowed per binary (default 900)
#
# A binary that is missing (did not compile), crashes, times out or exits non-zero
# without a summary line counts as 1 failed. One that prints a summary with 0 failed
# but exits non-zero anyway (a sanitizer or valgrind error at exit) also counts 1 failed.
# Binaries run from the repository root, so tests can open tests/data/... .
# Exit status: 0 if nothing failed, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ $# -eq 0 ]; then
    shopt -s nullglob
    set -- build/test_*
    shopt -u nullglob
fi

runner=${RUNNER:-}
limit=${TEST_TIMEOUT:-900}
total_pass=0
total_fail=0
out=$(mktemp "${TMPDIR:-/tmp}/run_all.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

if [ $# -eq 0 ]; then
    echo "run_all.sh: no test binaries given or found in build/"
    total_fail=1
fi

summary_re='^[A-Za-z0-9_.+-]+: ([0-9]+) passed, ([0-9]+) failed$'

for bin in "$@"; do
    name=$(basename "$bin")
    case $bin in */*) path=$bin ;; *) path=./$bin ;; esac
    # under a RUNNER the binary may be a script it reads (node's .js): it need not be executable
    if [ ! -f "$path" ] || { [ -z "$runner" ] && [ ! -x "$path" ]; }; then
        echo "$name: not built (see the compiler errors above)"
        total_fail=$((total_fail + 1))
        continue
    fi
    echo "---- $name${runner:+ (under ${runner%% *})}"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086  # $runner is a command line: split it on purpose
    timeout -k 10 "$limit" $runner "$path" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    # wine's own server connection dropping (not the test) ends a binary before it prints anything of
    # its own: run it once more, saying so
    if [ "$rc" -ne 0 ] && grep -q '^wine client error' "$out" && ! tr -d '\r' < "$out" | grep -qE "$summary_re"; then
        echo "$name: wine's server connection failed (wine client error); running it again"
        timeout -k 10 "$limit" $runner "$path" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
    fi
    t1=$(date +%s%N)
    secs=$(( (t1 - t0) / 1000000 ))
    secs=$(printf '%d.%03d' $((secs / 1000)) $((secs % 1000)))

    line=$(tr -d '\r' < "$out" | grep -E "$summary_re" | tail -n 1)   # \r: Windows programs (under wine) write CRLF
    if [ -n "$line" ]; then
        [[ $line =~ $summary_re ]]
        p=${BASH_REMATCH[1]}
        f=${BASH_REMATCH[2]}
    else
        p=0
        f=0
    fi

    why=
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        why="timed out after ${limit}s"
    elif [ "$rc" -gt 128 ]; then
        why="killed by signal $((rc - 128))"
    elif [ "$rc" -ne 0 ]; then
        why="exit status $rc"
    fi
    if [ -z "$line" ]; then
        echo "$name: no summary line (${why:-exit status 0}); counted as 1 failed"
        f=1
    elif [ -n "$why" ] && [ "$f" -eq 0 ]; then
        echo "$name: $why after reporting no failures; counted as 1 failed"
        f=1
    fi
    echo "---- $name: ${secs}s"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
