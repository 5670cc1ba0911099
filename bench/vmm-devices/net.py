#!/usr/bin/python3
"""virtio-net A/B benchmark: berth-vmm against QEMU's microvm machine (-M microvm,
virtio-net-device on the same tap, vhost off, same guest, same memory) in one run.

The guest is berth's freestanding tests/guests/net-bench.pvh, which drives virtio-net from ring 3
(native speed on kvm_pvm hosts) with the same frames and queue depth under both VMMs:
- tx: the guest sends frames as fast as the device takes them; the host reads the tap's
  rx_bytes counter (what the VMM wrote into the tap) after WARM seconds and again MEASURE
  seconds later.
- rx: bench/net-flood (C, sendmmsg on an AF_PACKET socket) floods the tap with frames; the guest
  sends one small frame back per MiB received, and the host reads the tap's rx_packets counter
  after WARM seconds and again MEASURE seconds later (MiB received = frames counted).
Fairness: the same guest binary and command line; only VIRTIO_F_VERSION_1 is negotiated (no
checksum/TSO offloads, no mergeable rx buffers: each frame is one descriptor with its 12-byte
virtio_net_hdr); queue depth QD frames in flight (ring of 64); FRAME-byte Ethernet frames;
QEMU runs with vhost=off (no /dev/vhost-net here, and berth-vmm has no in-kernel datapath
either). Everything happens inside a network namespace the bench creates and deletes.

Usage: bench/vmm-devices/net.py [BUILD_DIR]
  env: FRAME (1514), QD (32), WARM (1.0 s), MEASURE (3.0 s), ROUNDS (3), DIRS ("tx rx")
Prints, per direction, the median throughput of each VMM and the ratio berth-vmm/QEMU."""
import os
import shutil
import statistics
import subprocess
import sys
import time
import select

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else
                        os.path.join(TOP, "build"))
VMM = os.path.join(BUILD, "src", "berth-vmm", "berth-vmm")
GUEST = os.path.join(BUILD, "tests", "guests", "net-bench.pvh")
FLOOD = os.path.join(BUILD, "bench", "net-flood")
FRAME = int(os.environ.get("FRAME", "1514"))
QD = int(os.environ.get("QD", "32"))
WARM = float(os.environ.get("WARM", "1.0"))
MEASURE = float(os.environ.get("MEASURE", "3.0"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DIRS = os.environ.get("DIRS", "tx rx").split()
TAP = "nbtap0"


def qemu_accel():
    """KVM when QEMU can use it here (it needs MSR filtering on nested PVM hosts), else TCG."""
    return ["-accel", "kvm", "-cpu", "max,-arch-capabilities"] if os.path.exists("/dev/kvm") else ["-accel", "tcg"]


def berth_cmd(cmdline):
    return [VMM, "--kernel", GUEST, "--memory", "128", "--net", TAP, "--console", "stdio", "--cmdline", cmdline]


def qemu_cmd(cmdline):
    return ["qemu-system-x86_64", "-M", "microvm,acpi=on", *qemu_accel(), "-m", "128", "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-global", "virtio-mmio.force-legacy=false", "-kernel", GUEST, "-append", cmdline,
            "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no,vhost=off",
            "-device", "virtio-net-device,netdev=n0", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


def counter(name):
    with open(f"/sys/class/net/{TAP}/statistics/{name}") as f:
        return int(f.read())


class Guest:
    """One VM running the bench guest; its serial lines are read with their arrival times."""

    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.lines = []  # (time, text)

    def poll(self, until):
        fd = self.p.stdout.fileno()
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return
            chunk = os.read(fd, 4096)
            if not chunk:
                time.sleep(max(0.0, until - time.monotonic()))
                return
            t = time.monotonic()
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                self.lines.append((t, line.decode(errors="replace")))

    def wait_for(self, text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in ln for _, ln in self.lines):
                return
            self.poll(min(end, time.monotonic() + 0.05))
        self.stop()
        sys.exit(f"guest did not print {text!r}: {[ln for _, ln in self.lines]} "
                 f"{self.p.stderr.read().decode(errors='replace')}")

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


def run_tx(make_cmd):
    g = Guest(make_cmd(f"net_tx=1 frame={FRAME} qd={QD}"))
    g.wait_for("net-bench: tx", 30)
    g.poll(time.monotonic() + WARM)
    b0, t0 = counter("rx_bytes"), time.monotonic()
    g.poll(t0 + MEASURE)
    b1, t1 = counter("rx_bytes"), time.monotonic()
    g.stop()
    return (b1 - b0) / (t1 - t0)


def run_rx(make_cmd):
    g = Guest(make_cmd(f"net_rx=1 qd={QD} mark=1"))
    g.wait_for("net-bench: rx qd", 30)
    flood = subprocess.Popen([FLOOD, TAP, str(FRAME), str(WARM + MEASURE + 1)], stdout=subprocess.PIPE)
    g.poll(time.monotonic() + WARM)
    p0, t0 = counter("rx_packets"), time.monotonic()
    g.poll(t0 + MEASURE)
    p1, t1 = counter("rx_packets"), time.monotonic()
    g.stop()
    flood.kill()
    flood.wait()
    return (p1 - p0) * (1 << 20) / (t1 - t0)


def setup_netns(ns):
    subprocess.run(["ip", "netns", "add", ns], check=True)
    for cmd in (["link", "set", "lo", "up"], ["tuntap", "add", "dev", TAP, "mode", "tap"],
                ["link", "set", TAP, "up"]):
        subprocess.run(["ip", "netns", "exec", ns, "ip", *cmd], check=True)


def inside():
    """Runs in the bench's network namespace (re-executed through ip netns exec)."""
    print(f"virtio-net, {FRAME}-byte frames, qd {QD}, no offloads (VERSION_1 only), warm {WARM:g} s, "
          f"measured {MEASURE:g} s, median of {ROUNDS}; QEMU {' '.join(qemu_accel())}, vhost=off")
    for d in DIRS:
        fn = run_tx if d == "tx" else run_rx
        b, q = [], []
        for _ in range(ROUNDS):  # interleaved, so load drift hits both alike
            b.append(fn(berth_cmd))
            q.append(fn(qemu_cmd))
        mb, mq = statistics.median(b), statistics.median(q)
        # Each round's pair ran back to back under the same load: the median of the paired
        # ratios is steadier than the ratio of medians on a shared machine.
        ratio = statistics.median(x / y if y else float("inf") for x, y in zip(b, q))
        print(f"{d}: berth-vmm {mb * 8 / 1e9:6.3f} Gbit/s ({mb / FRAME / 1e3:7.1f} kpps)   "
              f"qemu microvm {mq * 8 / 1e9:6.3f} Gbit/s ({mq / FRAME / 1e3:7.1f} kpps)   "
              f"ratio {ratio:5.2f}x (median of paired rounds)")
        print(f"    runs: berth {[round(x * 8 / 1e9, 3) for x in b]}  qemu {[round(x * 8 / 1e9, 3) for x in q]} Gbit/s")
    if "rx" in DIRS:
        print("    rx note: the host flooder runs on the same 2 cores as the vCPU and the VMM; frames the "
              "VMM cannot take in time are dropped by the tap, as on a wire")


def main():
    if "--inside" in sys.argv:
        inside()
        return
    for path in (VMM, GUEST, FLOOD):
        if not os.path.exists(path):
            sys.exit(f"{path} is not built (scripts/build.sh build)")
    if not shutil.which("qemu-system-x86_64"):
        sys.exit("qemu-system-x86_64 is not installed")
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace and tap)")
    ns = f"berth-netbench-{os.getpid()}"
    setup_netns(ns)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), BUILD, "--inside"])
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
