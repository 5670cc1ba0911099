#!/bin/sh
# qcow2 A/B benchmark: berth's qcow2 layer against QEMU's, same images, same run.
#   1. 4 KiB I/O at queue depth 1 on one 256 MiB image, buffered (page cache) on both sides:
#      reads and overwrites of allocated clusters, then allocating writes on a fresh image.
#      Offsets advance by a large odd step modulo the disk (the pattern `qemu-img bench -S` does),
#      which spreads them over the whole image; ours also runs uniformly random offsets.
#   2. Thin overlays on one base: N through berth's library (one template, as `berth vm clone`
#      will), N `berth disk create -b` processes, and N `qemu-img create -b` processes.
# Usage: bench/qcow2/run.sh [BUILD_DIR] (default build). COUNT and CLONES override the sizes.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
bench=$build/bench/qcow2-bench
berth=$build/src/berth/berth
count=${COUNT:-100000}
clones=${CLONES:-1000}
step=$((4096 * 7919))
tmp=$(mktemp -d /tmp/berth-bench-qcow2-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
qemu_iops() { # qemu-img bench prints "Run completed in X seconds."
    secs=$(qemu-img bench -q -f qcow2 -t writeback -i threads -d 1 -c "$count" -s 4096 -S "$step" "$@" 2>&1 |
        sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    [ -z "$secs" ] && secs=$(qemu-img bench -f qcow2 -t writeback -i threads -d 1 -c "$count" -s 4096 -S "$step" "$@" |
        sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    awk -v s="$secs" -v c="$count" 'BEGIN { printf "%.0f", c / s }'
}
ours_iops() { "$bench" io "$@" --count "$count" --bs 4096 | sed -n 's/iops=\([0-9]*\).*/\1/p'; }

echo "== 4 KiB I/O, queue depth 1, $count requests, step $step (berth vs qemu-img bench) =="
img=$tmp/filled.qcow2
qemu-img create -q -f qcow2 "$img" 256M
qemu-io -c "write -P 0x11 0 256M" "$img" >/dev/null
cat "$img" >/dev/null # warm the page cache for both sides
o=$(ours_iops "$img" --step "$step"); q=$(qemu_iops "$img")
printf '%-28s berth %8s IOPS   qemu %8s IOPS   ratio %s\n' "read (allocated)" "$o" "$q" "$(ratio "$o" "$q")"
o=$(ours_iops "$img" --step "$step" --write); q=$(qemu_iops -w "$img")
printf '%-28s berth %8s IOPS   qemu %8s IOPS   ratio %s\n' "overwrite (allocated)" "$o" "$q" "$(ratio "$o" "$q")"
berth_new=$tmp/new-berth.qcow2; qemu_new=$tmp/new-qemu.qcow2
qemu-img create -q -f qcow2 "$berth_new" 256M; qemu-img create -q -f qcow2 "$qemu_new" 256M
o=$(ours_iops "$berth_new" --step "$step" --write); q=$(qemu_iops -w "$qemu_new")
printf '%-28s berth %8s IOPS   qemu %8s IOPS   ratio %s\n' "allocating write (fresh)" "$o" "$q" "$(ratio "$o" "$q")"
qemu-img check -q "$berth_new" && echo "  (berth's freshly written image: qemu-img check clean)"
r=$(ours_iops "$img" --random); w=$(ours_iops "$img" --random --write)
printf '%-28s berth %8s IOPS read, %s IOPS write (no qemu-img bench equivalent)\n' "uniformly random" "$r" "$w"

echo
echo "== thin overlays on one base: $clones each =="
base=$tmp/base.qcow2
qemu-img create -q -f qcow2 "$base" 10G
mkdir "$tmp/lib" "$tmp/cli" "$tmp/qemu"
lib_us=$("$bench" clone "$base" "$tmp/lib" "$clones" | sed -n 's/per_overlay_us=\([0-9.]*\).*/\1/p')
t0=$(date +%s.%N)
i=0; while [ $i -lt "$clones" ]; do "$berth" disk create -b "$base" "$tmp/cli/c$i.qcow2"; i=$((i + 1)); done
cli_us=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$clones" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
t0=$(date +%s.%N)
i=0; while [ $i -lt "$clones" ]; do qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$tmp/qemu/c$i.qcow2"; i=$((i + 1)); done
qemu_us=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$clones" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
printf '%-28s %10s us per overlay   ratio to qemu-img %s (goal <= 0.1)\n' "berth library (template)" "$lib_us" "$(ratio "$lib_us" "$qemu_us")"
printf '%-28s %10s us per overlay   ratio to qemu-img %s\n' "berth disk create -b" "$cli_us" "$(ratio "$cli_us" "$qemu_us")"
printf '%-28s %10s us per overlay\n' "qemu-img create -b" "$qemu_us"
qemu-img check -q "$tmp/lib/clone-$((clones - 1)).qcow2" && echo "  (last library overlay: qemu-img check clean)"
cmp -s "$tmp/lib/clone-0.qcow2" "$tmp/cli/c0.qcow2" && echo "  (library and CLI overlays are byte-identical)" || true
