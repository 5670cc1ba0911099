#!/usr/bin/python3
"""virtio-blk A/B benchmark: 4 KiB random reads issued by berth's own test guest
(tests/guests/virtio-test.pvh, blk_bench=N) under berth-vmm and under QEMU's microvm machine
(-M microvm, virtio-mmio version 2, same guest, same raw disk file, same memory), in one run.

The guest only does I/O; the host times whole VM runs. IOPS = N / (t(N) - t(0)): the run with
0 reads absorbs boot, device discovery and exit, so what remains is the I/O. Each point is the
median of ROUNDS runs. Both VMMs read the disk through the host page cache (QEMU cache=writeback,
berth raw backend buffered), warmed before measuring.

Usage: bench/vmm-devices/run.py [BUILD_DIR]     env: READS (default 200000: at qd 16 fewer reads finish within the
start-up noise the empty run subtracts), ROUNDS (default 3)
Prints one line per queue depth: iops for each VMM and the ratio berth/qemu."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build")
VMM = os.path.join(BUILD, "src", "berth-vmm", "berth-vmm")
GUEST = os.path.join(BUILD, "tests", "guests", "virtio-test.pvh")
READS = int(os.environ.get("READS", "200000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DISK_MIB = 64


def qemu_accel():
    """KVM when QEMU can use it here (it needs MSR filtering on nested PVM hosts), else TCG."""
    return ["-accel", "kvm", "-cpu", "max,-arch-capabilities"] if os.path.exists("/dev/kvm") else ["-accel", "tcg"]


def berth_cmd(disk, cmdline):
    return [VMM, "--kernel", GUEST, "--memory", "128", "--disk", disk, "--console", "stdio", "--cmdline", cmdline]


def qemu_cmd(disk, cmdline):
    return ["qemu-system-x86_64", "-M", "microvm,acpi=on", *qemu_accel(), "-m", "128", "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-global", "virtio-mmio.force-legacy=false", "-kernel", GUEST, "-append", cmdline,
            "-drive", f"id=d,file={disk},format=raw,if=none,cache=writeback,aio=threads",
            "-device", "virtio-blk-device,drive=d", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


def timed(cmd, expect):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    dt = time.monotonic() - t0
    if expect not in r.stdout:
        sys.exit(f"run failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return dt


def iops(make_cmd, disk, qd):
    base = statistics.median(timed(make_cmd(disk, "blk_bench=1 blk_qd=1"), "0 failures") for _ in range(ROUNDS))
    full = statistics.median(timed(make_cmd(disk, f"blk_bench={READS + 1} blk_qd={qd}"), "0 failures")
                             for _ in range(ROUNDS))
    return READS / max(full - base, 1e-6), base


def main():
    for path in (VMM, GUEST):
        if not os.path.exists(path):
            sys.exit(f"{path} is not built (scripts/build.sh)")
    if not shutil.which("qemu-system-x86_64"):
        sys.exit("qemu-system-x86_64 is not installed")
    with tempfile.TemporaryDirectory(prefix="berth-bench-vmm-devices-") as d:
        disk = os.path.join(d, "disk.img")
        with open(disk, "wb") as f:
            f.write(os.urandom(DISK_MIB << 20))
        with open(disk, "rb") as f:
            while f.read(1 << 20):
                pass
        print(f"virtio-blk 4 KiB random reads, {READS} per run, median of {ROUNDS}, {DISK_MIB} MiB raw disk "
              f"(page cache), QEMU {' '.join(qemu_accel())}")
        for qd in (1, 16):
            b, b0 = iops(berth_cmd, disk, qd)
            q, q0 = iops(qemu_cmd, disk, qd)
            print(f"qd {qd:2}: berth-vmm {b:9.0f} IOPS   qemu microvm {q:9.0f} IOPS   ratio {b / q:5.2f}x"
                  f"   (empty run: berth {b0 * 1000:.0f} ms, qemu {q0 * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
