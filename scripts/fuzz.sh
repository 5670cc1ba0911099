#!/bin/sh
# Coverage-guided fuzzing of one target with libFuzzer (clang), ASan and UBSan:
#   scripts/fuzz.sh TARGET [SECONDS] [-- LIBFUZZER-OPTIONS...]
# TARGET is a name from tests/fuzz/meson.build (registry-request, qcow2, virtqueue, ...). The
# corpus grows in build-fuzz/corpus/TARGET, starting from tests/fuzz/seeds/TARGET; crashes are
# written to build-fuzz/crashes/TARGET/ and replayed with: build-fuzz/tests/fuzz/fuzz-TARGET FILE
# SECONDS defaults to 300. The suite runs the same targets briefly with gcc (tests/fuzz/driver.c).
set -eu
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    [ $# -ge 1 ] && exit 0 || exit 2
fi
target=$1
shift
seconds=300
if [ $# -gt 0 ] && [ "$1" != -- ]; then
    seconds=$1
    shift
fi
[ "${1:-}" = -- ] && shift
if [ ! -f "tests/fuzz/fuzz-$target.c" ]; then
    echo "fuzz.sh: no fuzz target '$target' (tests/fuzz/fuzz-$target.c); targets:" >&2
    ls tests/fuzz | sed -n 's/^fuzz-\(.*\)\.c$/  \1/p' >&2
    exit 2
fi
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
dir=build-fuzz
opts="-Dfuzz_engine=libfuzzer -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
      -Dc_args=-fsanitize=fuzzer-no-link -Dc_link_args=-fsanitize=fuzzer-no-link"
if [ -d "$dir" ]; then
    meson setup --reconfigure $opts "$dir" >/dev/null
else
    CC=clang meson setup $opts "$dir" >/dev/null
fi
ninja --quiet -C "$dir" "tests/fuzz/fuzz-$target"
mkdir -p "$dir/corpus/$target" "$dir/crashes/$target"
# a library's own leak that we cannot fix, documented in the file (tests/fuzz/TARGET.lsan.supp)
if [ -f "tests/fuzz/$target.lsan.supp" ]; then
    LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/$target.lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export LSAN_OPTIONS
fi
exec "$dir/tests/fuzz/fuzz-$target" -max_total_time="$seconds" -artifact_prefix="$dir/crashes/$target/" \
    -print_final_stats=1 "$@" "$dir/corpus/$target" "tests/fuzz/seeds/$target"
