#!/bin/sh
# qcow2 A/B benchmark: berth's qcow2 layer against QEMU's, same images, same run.
#   1. 4 KiB I/O at queue depth 1 on one 256 MiB image, buffered on both sides (page cache, no
#      O_DIRECT: qemu-img bench -t writeback -i $QEMU_AIO, default threads, qemu-img's default;
#      io_uring works too; berth's disk layer has no O_DIRECT mode):
#      reads and overwrites of allocated clusters, then allocating writes on a fresh image.
#      Offsets advance by a large odd step modulo the disk (the pattern `qemu-img bench -S` does),
#      which spreads them over the whole image; ours also runs uniformly random offsets.
#      Run in two places: tmpfs (/dev/shm: the software path alone) and a directory on the real
#      disk (/var/tmp: buffered writes there are throttled by dirty-page writeback, so a run pays
#      for the dirty data the run before it left). Before every measurement `sync` empties the
#      dirty pages, and berth and qemu take turns going first; ROUNDS rounds each.
#   2. Thin overlays on one base: N through berth's library (one template, as `berth vm clone`
#      will), N `berth disk create -b` processes, and N `qemu-img create -b` processes.
# Usage: bench/qcow2/run.sh [BUILD_DIR] (default build). COUNT, ROUNDS, CLONES, DIRS (default
# "/dev/shm /var/tmp") and QEMU_AIO override the sizes, places and qemu's I/O engine.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
bench=$build/bench/qcow2-bench
berth=$build/src/berth/berth
count=${COUNT:-100000}
rounds=${ROUNDS:-3}
clones=${CLONES:-1000}
dirs=${DIRS:-/dev/shm /var/tmp}
aio=${QEMU_AIO:-threads}
step=$((4096 * 7919))
tmp=$(mktemp -d /tmp/berth-bench-qcow2-XXXXXX)
io_dirs=""
cleanup() { rm -rf "$tmp" $io_dirs; }
trap cleanup EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
qemu_iops() { # qemu-img bench prints "Run completed in X seconds."
    sync
    secs=$(qemu-img bench -f qcow2 -t writeback -i "$aio" -d 1 -c "$count" -s 4096 -S "$step" "$@" |
        sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
    awk -v s="$secs" -v c="$count" 'BEGIN { printf "%.0f", c / s }'
}
ours_iops() {
    sync
    "$bench" io "$@" --count "$count" --bs 4096 | sed -n 's/iops=\([0-9]*\).*/\1/p'
}
# pair NAME ROUND OURS_ARGS -- QEMU_ARGS: one measurement each, the order alternating by round.
pair() {
    name=$1 round=$2
    shift 2
    ours_args=""
    while [ "$1" != "--" ]; do ours_args="$ours_args $1"; shift; done
    shift
    if [ $((round % 2)) = 1 ]; then
        o=$(ours_iops $ours_args); q=$(qemu_iops "$@")
    else
        q=$(qemu_iops "$@"); o=$(ours_iops $ours_args)
    fi
    printf '  %-26s round %d  berth %8s IOPS   qemu %8s IOPS   ratio %s\n' "$name" "$round" "$o" "$q" "$(ratio "$o" "$q")"
}

for dir in $dirs; do
    [ -d "$dir" ] || continue
    d=$(mktemp -d "$dir/berth-bench-qcow2-XXXXXX")
    io_dirs="$io_dirs $d"
    echo "== 4 KiB I/O in $dir ($(stat -f -c %T "$dir")), queue depth 1, $count requests, step $step =="
    img=$d/filled.qcow2
    qemu-img create -q -f qcow2 "$img" 256M
    qemu-io -c "write -P 0x11 0 256M" "$img" >/dev/null
    round=1
    while [ $round -le "$rounds" ]; do
        pair "read (allocated)" $round "$img" --step "$step" -- "$img"
        pair "overwrite (allocated)" $round "$img" --step "$step" --write -- -w "$img"
        rm -f "$d/new-berth.qcow2" "$d/new-qemu.qcow2"
        qemu-img create -q -f qcow2 "$d/new-berth.qcow2" 256M; qemu-img create -q -f qcow2 "$d/new-qemu.qcow2" 256M
        pair "allocating write (fresh)" $round "$d/new-berth.qcow2" --step "$step" --write -- -w "$d/new-qemu.qcow2"
        round=$((round + 1))
    done
    qemu-img check -q "$d/new-berth.qcow2" && echo "  (berth's freshly written image: qemu-img check clean)"
    r=$(ours_iops "$img" --random); w=$(ours_iops "$img" --random --write)
    printf '  %-26s berth %8s IOPS read, %s IOPS write (no qemu-img bench equivalent)\n' "uniformly random" "$r" "$w"
    rm -rf "$d"
done

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
