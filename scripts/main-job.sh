#!/bin/sh
# The main job: a container and a microVM from the same busybox root filesystem, side by side.
# The VM boots the stock kernel with berth's initramfs through whichever backend works here
# (berth vm start says which and why); the container runs through berth-oci meanwhile.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build}
for bin in berth berth-oci berth-agent berth-monitor; do
    if [ ! -x "$build/src/$bin/$bin" ]; then
        echo "main-job: $bin is not built yet ($build/src/$bin/$bin)" >&2
        exit 1
    fi
done
BERTH_ROOT=$(mktemp -d /tmp/berth-main-job.XXXXXX)
BERTH_RUNTIME_DIR="$BERTH_ROOT/run"
export BERTH_ROOT BERTH_RUNTIME_DIR
cleanup() {
    "$build/src/berth/berth" vm rm --force demo-vm >/dev/null 2>&1 || true
    "$build/src/berth/berth" rm -f demo-ctr >/dev/null 2>&1 || true
    rm -rf "$BERTH_ROOT"
}
trap cleanup EXIT INT TERM

echo "== starting a microVM (boots in the background)"
scripts/demo-vm.sh "$build" start
echo
echo "== meanwhile, a container through berth-oci (the OCI runtime, as podman or containerd drive it)"
scripts/demo-container.sh "$build"
echo
echo "== and one through berth run, from the same image as the VM"
"$build/src/berth/berth" run -d --name demo-ctr demo/busybox sleep 600 >/dev/null
"$build/src/berth/berth" exec demo-ctr sh -c 'echo "container hostname: $(hostname), kernel: $(uname -r), pid 1: $(cat /proc/1/comm)"'
echo
echo "== both, in one table"
"$build/src/berth/berth" ps -a --all-kinds
"$build/src/berth/berth" rm -f demo-ctr >/dev/null
echo
echo "== the microVM's report"
scripts/demo-vm.sh "$build" wait
