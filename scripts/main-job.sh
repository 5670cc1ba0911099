#!/bin/sh
# The main job: what berth does, shown end to end on this machine. Grows with each issue: today a
# container from the project-built busybox rootfs through berth-oci.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build}
if [ ! -x "$build/src/berth-oci/berth-oci" ]; then
    echo "main-job: berth-oci is not built yet ($build/src/berth-oci/berth-oci)" >&2
    exit 1
fi
exec scripts/demo-container.sh "$build"
