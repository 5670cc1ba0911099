#!/bin/sh
# The README's two commands: `scripts/dev.sh main` (install, build, run the main job) and
# `scripts/dev.sh test` (install, build, run every test).
set -eu
cd "$(dirname "$0")/.."
what=${1:-}
case "$what" in
    main|test) ;;
    *) echo "usage: scripts/dev.sh main|test" >&2; exit 2 ;;
esac
scripts/install-deps.sh
scripts/build.sh build
case "$what" in
    main) exec scripts/main-job.sh ;;
    test) exec /usr/bin/python3 tests/run-all.py ;;
esac
