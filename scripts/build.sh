#!/bin/sh
# Builds into DIR (default build). With ASAN=1, an ASan+UBSan build for the unit tests; with
# CLANG=1, a clang build (clang refuses a goto past a cleanup variable's initialisation, which gcc
# compiles into a free of garbage; the suite builds with both).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
opts="-Dwerror=true"
if [ "${ASAN:-0}" = 1 ]; then
    opts="$opts -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
fi
if [ "${CLANG:-0}" = 1 ]; then
    export CC=clang
fi
if [ -d "$dir" ]; then
    meson setup --reconfigure $opts "$dir" >/dev/null
else
    meson setup $opts "$dir" >/dev/null
fi
ninja -C "$dir"
