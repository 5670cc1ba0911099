#!/bin/sh
# The main job's container demo: builds the busybox rootfs, makes an OCI bundle, runs a container
# with berth-oci that reports its hostname, its pid 1 and its namespaces, then cleans up.
set -eu
build=${1:?usage: demo-container.sh BUILD_DIR}
cd "$(dirname "$0")/.."
oci="$(pwd)/$build/src/berth-oci/berth-oci"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id="berth-demo-$$"
cleanup() {
    "$oci" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
scripts/make-busybox-rootfs.sh "$work/bundle/rootfs"
"$oci" spec --bundle "$work/bundle"
# A non-interactive process that shows what the container sees.
cat > "$work/bundle/rootfs/demo.sh" <<'SH'
echo "hostname:        $(hostname)"
echo "my pid:          $$ ($(cat /proc/1/comm) is pid 1)"
echo "processes:"
ps -o pid,user,comm
echo "namespaces:"
for n in pid mnt net uts ipc cgroup; do echo "  $n -> $(readlink /proc/self/ns/$n)"; done
echo "root filesystem: $(ls / | tr '\n' ' ')"
SH
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
cfg["process"]["terminal"] = False
cfg["hostname"] = "berth-demo"
cfg["process"]["args"] = ["/bin/sh", "/demo.sh"]
json.dump(cfg, open(path, "w"), indent=2)
PY
echo "host namespaces: pid -> $(readlink /proc/self/ns/pid), net -> $(readlink /proc/self/ns/net)"
echo "running container $id with berth-oci ($("$oci" --version | head -1))"
"$oci" --root "$work/state" run --bundle "$work/bundle" "$id"
echo "container exited; state left behind: $("$oci" --root "$work/state" list -q | wc -l) containers"
