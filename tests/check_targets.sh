#!/usr/bin/env bash
# tests/check_targets.sh - run tests/target_hash.c built for each target and compare the hashes.
#
#   usage: tests/check_targets.sh LABEL=COMMAND ...
#   e.g.   tests/check_targets.sh "x86-64=build/targets/native" "aarch64=qemu-aarch64 build/targets/aarch64"
#
# Each command runs once per kernel set its target may have (--simd scalar|avx2|avx512|neon|simd128;
# exit status 3 means "not on this CPU or build" and is skipped). Then:
#   small: one hash for every target and kernel set;
#   large: one hash per rounding group: separate multiply and add (scalar, simd128), and one FMA
#          per step (avx2, avx512, neon).
# Prints the table; exit status 0 if every hash agrees within its group, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1
rows=$(mktemp "${TMPDIR:-/tmp}/targets.XXXXXX") || exit 1
trap 'rm -f "$rows"' EXIT
fail=0
for arg in "$@"; do
    label=${arg%%=*}
    cmd=${arg#*=}
    for set in scalar avx2 avx512 neon simd128; do
        # shellcheck disable=SC2086  # $cmd is a command line: split it on purpose
        out=$(timeout -k 5 600 $cmd --simd "$set" 2>&1)
        rc=$?
        [ $rc -eq 3 ] && continue
        if [ $rc -ne 0 ]; then echo "FAIL $label $set: exit $rc: $out"; fail=1; continue; fi
        # kernels <set> small <hash> <loss> large <hash> <loss>
        read -r _ k _ hs ls _ hl ll <<< "$out"
        case $k in scalar|simd128) group=mul+add ;; *) group=fma ;; esac
        printf '%-10s %-8s %s %s %s %s %s\n' "$label" "$k" "$hs" "$ls" "$group" "$hl" "$ll" >> "$rows"
    done
done
printf '%-10s %-8s %-16s %-12s %-8s %-16s %s\n' target kernels small loss group large loss
cat "$rows"
if [ ! -s "$rows" ]; then echo "FAIL no target ran"; exit 1; fi
n_small=$(awk '{print $3}' "$rows" | sort -u | wc -l)
n_large=$(awk '{print $5, $6}' "$rows" | sort -u | wc -l)
n_groups=$(awk '{print $5}' "$rows" | sort -u | wc -l)
if [ "$n_small" -ne 1 ]; then echo "FAIL the small run's hash differs between targets"; fail=1; fi
if [ "$n_large" -ne "$n_groups" ]; then echo "FAIL the large run's hash differs within a rounding group"; fail=1; fi
[ $fail -eq 0 ] && echo "ok    $(wc -l < "$rows") runs: the small run's losses are the same bits everywhere, the large run's within each rounding group"
exit $fail
