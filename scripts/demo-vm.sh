#!/bin/sh
# The main job's VM half. start: imports the busybox rootfs as an image and starts a VM from it
# that reports what it sees (the backend berth picks is printed, with the reason). wait: waits for
# the VM to finish, prints its console output and removes it. State lives in $BERTH_ROOT.
set -eu
build=${1:?usage: demo-vm.sh BUILD_DIR start|wait}
what=${2:?usage: demo-vm.sh BUILD_DIR start|wait}
cd "$(dirname "$0")/.."
berth="$(pwd)/$build/src/berth/berth"
case "$what" in
start)
    rootfs="$BERTH_ROOT/demo-rootfs"
    scripts/make-busybox-rootfs.sh "$rootfs"
    "$berth" image import --rootfs "$rootfs" demo/busybox:latest >/dev/null
    "$berth" vm create demo-vm --image demo/busybox --memory 256 -- /bin/sh -c \
        'echo "VM hostname:     $(hostname)"; echo "VM kernel:       $(uname -r)";
         echo "VM cpus:         $(grep -c ^processor /proc/cpuinfo)";
         echo "VM memory:       $(grep MemTotal /proc/meminfo)"; echo "VM disks:        $(ls /sys/block | tr "\n" " ")";
         echo "VM address:      $(ip -o -4 addr show eth0 2>/dev/null | awk "{print \$4}")"' \
        >/dev/null
    "$berth" vm start demo-vm
    ;;
wait)
    i=0
    while [ "$("$berth" vm inspect demo-vm | grep -c '"state": "running"')" -gt 0 ]; do
        i=$((i + 1))
        if [ $i -gt 600 ]; then
            echo "demo VM did not finish in 5 minutes" >&2
            "$berth" vm rm --force demo-vm
            exit 1
        fi
        sleep 0.5
    done
    "$berth" vm ls
    "$berth" vm logs demo-vm | grep -a -e '^VM ' -e '^berth-agent:'
    "$berth" vm rm demo-vm
    ;;
esac
