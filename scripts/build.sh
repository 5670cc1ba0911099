#!/bin/sh
# Builds into DIR (default build). With ASAN=1, an ASan+UBSan build for the unit tests.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
opts="-Dwerror=true"
if [ "${ASAN:-0}" = 1 ]; then
    opts="$opts -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
fi
if [ -d "$dir" ]; then
    meson setup --reconfigure $opts "$dir" >/dev/null
else
    meson setup $opts "$dir" >/dev/null
fi
ninja -C "$dir"
