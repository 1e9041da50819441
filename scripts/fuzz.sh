#!/usr/bin/env bash
# Runs a libFuzzer target: scripts/fuzz.sh TARGET SECONDS, or scripts/fuzz.sh all SECONDS for
# every target in turn. Builds the dispatch-fuzz executable first (its own build folder,
# .build-fuzz, instrumented with -sanitize=fuzzer,address). The seeds under fuzz/corpus/TARGET
# are read, never written: new inputs go to a scratch corpus, and a crash leaves its input in
# fuzz/artifacts/ (reproduce: DISPATCH_FUZZ_TARGET=TARGET .build-fuzz/debug/dispatch-fuzz FILE).
# Prints one summary line per target: executions, seconds, corpus size, and what it found.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS" >&2
    exit 2
fi
target=$1
seconds=$2
build=.build-fuzz
binary=$build/debug/dispatch-fuzz

DISPATCH_FUZZ=1 swift build --build-path "$build" --product dispatch-fuzz -Xswiftc -sanitize=fuzzer,address 2>&1 | tail -3

if [ "$target" = all ]; then
    targets=$(ls fuzz/corpus)
else
    targets=$target
fi

mkdir -p fuzz/artifacts
failed=0
for name in $targets; do
    scratch=$(mktemp -d)
    log=$(mktemp)
    # Bounded work per input too: the webhook target's inputs are whole objects; no input may
    # take a second (a placement that stalls is a finding).
    status=0
    DISPATCH_FUZZ_TARGET=$name ASAN_OPTIONS=detect_leaks=0 "$binary" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=131072 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$name-" "$scratch" "fuzz/corpus/$name" > "$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(ls "$scratch" | wc -l)
    if [ "$status" -eq 0 ]; then
        echo "fuzz $name: $runs executions in $seconds s, $(ls "fuzz/corpus/$name" | wc -l) seeds + $corpus new inputs, nothing found"
    else
        failed=1
        echo "fuzz $name: FOUND a failure after $runs executions (exit $status); input in fuzz/artifacts/"
        grep -E 'ERROR|Fatal|FuzzFailure|: [a-z-]+: |SUMMARY|Test unit written' "$log" | head -20
    fi
    rm -rf "$scratch" "$log"
done
exit $failed
