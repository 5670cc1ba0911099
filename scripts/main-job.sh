#!/bin/sh
# The main job: a container and a microVM from the same busybox root filesystem, side by side.
# The VM boots the stock kernel with berth's initramfs through whichever backend works here
# (berth vm start says which and why); the container runs through berth-oci meanwhile, and one
# through berth run on the same default network as the VM.
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
# The VM and the container join berth's default network, as a user's would: bridge berth0
# (10.89.0.0/16), the nftables table "ip berth", a resolver process, net.ipv4.ip_forward=1. All of
# it is removed at the end (ip_forward restored). A host where berth networking already exists
# (another berth's berth0 or "ip berth" table) keeps it untouched: the job then runs without one.
own_network=no
forward_before=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 1)
if ip link show berth0 >/dev/null 2>&1 || nft list table ip berth >/dev/null 2>&1; then
    printf '[network]\ndefault_network = none\n' >"$BERTH_ROOT/berth.conf"
    echo "main-job: berth networking already exists on this host (berth0 or nft table ip berth): running without a network"
else
    own_network=yes
fi
cleanup() {
    "$build/src/berth/berth" vm rm --force demo-vm >/dev/null 2>&1 || true
    "$build/src/berth/berth" rm -f demo-ctr >/dev/null 2>&1 || true
    if [ "$own_network" = yes ]; then
        "$build/src/berth/berth" network rm berth >/dev/null 2>&1 || true
        nft delete table ip berth >/dev/null 2>&1 || true
        echo "$forward_before" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    fi
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
if [ "$own_network" = yes ]; then
    echo
    echo "== one network: the container finds the VM by name (berth's resolver on the default network)"
    "$build/src/berth/berth" exec demo-ctr sh -c 'echo "container address: $(ip -o -4 addr show eth0 | awk "{print \$4}")";
        echo "demo-vm resolves to: $(nslookup demo-vm | sed -n "/^Name:/,\$ s/^Address: *//p")"'
fi
echo
echo "== both, in one table"
"$build/src/berth/berth" ps -a --all-kinds
"$build/src/berth/berth" rm -f demo-ctr >/dev/null
echo
echo "== the microVM's report"
scripts/demo-vm.sh "$build" wait
