#!/usr/bin/env bash
# tests/fuzz/run.sh - builds every libFuzzer target in tests/fuzz/ and runs
# each for a bounded time under ASan, UBSan and LeakSanitizer.
#
# Needs, beyond the packages the README installs (libjansson-dev, libjwt-dev,
# libssl-dev, libyaml-dev, libcivetweb-dev, liblua5.4-dev, pkg-config):
#     sudo apt-get install -y clang libclang-rt-14-dev
# (clang 14 on Debian 12; libclang-rt-14-dev holds the libFuzzer and
# sanitizer runtimes). No ./configure is needed: the targets build from the
# sources directly.
#
# Usage, from anywhere in a clone:
#     bash tests/fuzz/run.sh [SECONDS] [TARGET...]
# SECONDS per target (default $FUZZ_SECONDS or 30); TARGETs default to all.
# FUZZ_WORK=dir keeps builds, corpora and logs there (default: a temp dir,
# removed at the end unless something failed). FUZZ_JOBS targets run at
# once (default: the number of CPUs), each on one core.
#
# Each target runs on a COPY of its seed corpus (tests/fuzz/corpus/<target>/),
# so CI never grows the committed one. Any crash, leak, UBSan report or
# timeout fails the run (exit 1) and prints the input's path and base64, so a
# CI log is enough to reproduce it:
#     echo '<base64>' | base64 -d > crash && ./fuzz_<target> crash
# Found inputs become regression seeds: add them to the target's corpus.
# -timeout is 60 s per input, far above any real input's few milliseconds:
# on a starved shared machine a 10 s limit fired on a 36-byte message whose
# run had merely been descheduled.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-30}}
shift || true
all_targets=(fuzz_ids fuzz_auth fuzz_jwks fuzz_message fuzz_config
             fuzz_json_body fuzz_http_request fuzz_policy)
targets=("${@:-${all_targets[@]}}")
CC=${CC:-clang}
jobs=${FUZZ_JOBS:-$(nproc)}

case $seconds in
''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2;;
esac
case $jobs in
''|0|*[!0-9]*) echo "run.sh: FUZZ_JOBS must be a whole number above 0, got '$jobs'" >&2; exit 2;;
esac
for tool in "$CC" pkg-config base64; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: '$tool' not found (apt-get install clang libclang-rt-14-dev pkg-config)" >&2
        exit 2
    }
done

work=${FUZZ_WORK:-$(mktemp -d /tmp/fs-fuzz.XXXXXX)}
mkdir -p "$work"
keep_work=${FUZZ_WORK:+1}

CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
        -I"$root/include" -I"$root/src" -I"$here"
        -DFS_FUZZ_POLICIES_DIR="\"$root/policies\"")
read -r -a LIBS <<<"$(pkg-config --cflags --libs jansson libjwt libssl libcrypto libcurl yaml-0.1 lua5.4)"
LIBS+=(-ldl -lpthread)

# target -> the sources it links (besides its own file) and its -max_len.
# auth.c verifies with the JWKS keys that jwks_fetch.c keeps (it logs and
# counts), and config.c checks auth.jwks_file with jwks.c: $AUTH and $JWKS
# carry them; build() links each file once.
JWKS="src/jwks.c src/base64.c"
AUTH="src/auth.c $JWKS src/jwks_fetch.c src/log.c src/metrics.c src/states.c"
declare -A SRCS=(
    [fuzz_ids]="src/ids.c $AUTH"
    [fuzz_auth]="$AUTH"
    [fuzz_jwks]="$JWKS"
    [fuzz_message]="src/message.c src/ids.c $AUTH"
    [fuzz_config]="src/config.c src/suggest.c src/ids.c src/log.c $JWKS"
    [fuzz_json_body]="tests/fuzz/http_harness.c src/http/http_api.c src/http/http_request.c src/http/http_policy.c src/http/http_events.c src/http/http_reply.c src/http/http_server.c src/http/http_request_id.c src/http/http_tls.c src/health.c src/sales.c src/sale_replica.c src/claim_batch.c $AUTH src/ids.c src/config.c src/suggest.c src/plugin_loader.c"
    [fuzz_http_request]="tests/fuzz/http_harness.c src/http/http_api.c src/http/http_request.c src/http/http_policy.c src/http/http_events.c src/http/http_reply.c src/http/http_server.c src/http/http_request_id.c src/http/http_tls.c src/health.c src/sales.c src/sale_replica.c src/claim_batch.c $AUTH src/ids.c src/config.c src/suggest.c src/plugin_loader.c"
    [fuzz_policy]="src/policy.c src/policy_helpers.c src/ids.c $AUTH src/config.c src/suggest.c"
)
declare -A MAXLEN=(
    [fuzz_ids]=256 [fuzz_auth]=6000 [fuzz_jwks]=8192 [fuzz_message]=2048 [fuzz_config]=8192
    [fuzz_json_body]=5000 [fuzz_http_request]=6000 [fuzz_policy]=2048
)

build() {
    local t=$1 srcs=() s
    declare -A seen=()
    for s in ${SRCS[$t]}; do
        [ -n "${seen[$s]+x}" ] && continue
        seen[$s]=1
        srcs+=("$root/$s")
    done
    "$CC" "${CFLAGS[@]}" -o "$work/bin/$t" "$here/$t.c" "${srcs[@]}" "${LIBS[@]}"
}

# Prints every artifact (crash-, leak-, timeout-, oom-) with its base64.
report() {
    local t=$1 f
    for f in "$work/artifacts/$t"/*; do
        [ -e "$f" ] || continue
        case $(basename "$f") in slow-unit-*) continue;; esac
        echo "run.sh: $t: failing input $f ($(stat -c %s "$f") bytes), base64:"
        base64 -w0 "$f"
        echo
    done
}

run_one() {
    local t=$1 dict=() rc=0 found
    rm -rf "$work/corpus/$t" "$work/artifacts/$t"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    if [ -d "$here/corpus/$t" ]; then
        cp -R "$here/corpus/$t/." "$work/corpus/$t/"
    fi
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    # stdin from /dev/null: a config may name /dev/stdin as its secret file.
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        "$work/bin/$t" -max_total_time="$seconds" -max_len="${MAXLEN[$t]}" \
        -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" \
        "$work/corpus/$t" </dev/null >"$work/logs/$t.log" 2>&1 || rc=$?
    found=$(find "$work/artifacts/$t" -type f ! -name 'slow-unit-*' -print -quit)
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        echo "run.sh: $t FAILED (exit $rc); the end of its log ($work/logs/$t.log):"
        tail -n 60 "$work/logs/$t.log"
        report "$t"
        return 1
    fi
    echo "run.sh: $t ok: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' \
        "$work/logs/$t.log" | grep -Eo '[0-9]+$' || echo '?') runs in ${seconds}s"
}

mkdir -p "$work/bin" "$work/logs"
failed=0
for t in "${targets[@]}"; do
    if [ -z "${SRCS[$t]+x}" ]; then
        echo "run.sh: no target '$t' (have: ${all_targets[*]})" >&2
        exit 2
    fi
    echo "run.sh: building $t"
    build "$t"
done
# Up to $jobs targets at once; each one's lines come out as it finishes.
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
    echo "run.sh: FAILED; builds, corpora and logs kept in $work"
    exit 1
fi
[ -n "$keep_work" ] || rm -rf "$work"
echo "run.sh: every target ran ${seconds}s without a finding"
