#!/usr/bin/python3
"""A/B benchmark of berth's networking against the peers, in one run, inside a private network
namespace (nothing touches the host's own interfaces). Run as root from the repository:

    bench/network.py [--runs N] [--seconds S]

1. Setup cost of a container's network: berth's hooks (`berth network attach` + `detach` of a
   namespace on the default network, each a full CLI process) against podman's default bridge
   network, measured as `podman run --rm --network bridge` minus `--network none` on the same
   rootfs. Podman runs with runc and cgroupfs (crun refuses this machine's hybrid cgroups).
2. TCP throughput between two namespaces over berth's bridge (veth - bridge - veth) against a
   veth pair set up by hand with `ip`, both with iperf3.
Prints medians and ratios."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERTH = os.path.join(os.environ.get("BERTH_BUILD", os.path.join(TOP, "build")), "src/berth/berth")


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


class Bench:
    def __init__(self):
        self.ns = "berth-bench-" + uuid.uuid4().hex[:8]
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-net-")
        self.env = dict(os.environ, BERTH_ROOT=f"{self.tmp}/root", BERTH_RUNTIME_DIR=f"{self.tmp}/run")
        self.procs = []
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")

    def spawn(self):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, "unshare", "-n", "--", "/bin/busybox", "sleep",
                              "3600"], stdin=subprocess.DEVNULL)
        self.procs.append(p)
        me = os.readlink("/proc/self/ns/net")
        while True:
            try:
                if os.readlink(f"/proc/{p.pid}/ns/net") != me and os.readlink(f"/proc/{p.pid}/exe").endswith("busybox"):
                    return p
            except OSError:
                pass
            time.sleep(0.005)

    def berth(self, *args):
        # nsenter --net, like podman below (ip netns exec would also remount /sys for every call).
        return sh("nsenter", f"--net=/run/netns/{self.ns}", BERTH, *args, env=self.env)

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        out = sh("ip", "netns", "pids", self.ns, check=False).stdout
        for pid in out.split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def berth_setup_cost(b, runs):
    w = b.spawn()
    b.berth("network", "attach", "", "--id", "warm", "--pid", str(w.pid))  # first use creates the network
    b.berth("network", "detach", "warm")
    times, hooks = [], []
    for i in range(runs):
        w = b.spawn()
        t0 = time.perf_counter()
        a = b.berth("network", "attach", "", "--id", f"c{i}", "--pid", str(w.pid), "--print-time")
        # As in `berth run --rm`: the container exits, then berth detaches it.
        w.kill()
        w.wait()
        t1 = time.perf_counter()
        d = b.berth("network", "detach", f"c{i}", "--print-time")
        times.append(time.perf_counter() - t1 + (t1 - t0))
        hooks.append(sum(int(line.split()[1]) for line in (a.stderr + d.stderr).splitlines()
                         if line.startswith("hook_us")) / 1e6)
    return statistics.median(times), statistics.median(hooks)


def podman_setup_cost(b, runs):
    rootfs = os.path.join(b.tmp, "rootfs")
    sh(os.path.join(TOP, "scripts/make-busybox-rootfs.sh"), rootfs)
    base = ["nsenter", f"--net=/run/netns/{b.ns}", "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
            "run", "--rm", "--ulimit", "nofile=1024:4096", "--ulimit", "nproc=1024:1024"]
    res = {"none": [], "bridge": []}
    for net in ("none", "bridge"):  # warm-up (image store, netavark's first bridge)
        sh(*base, "--network", net, "--rootfs", rootfs, "/bin/true")
    for _ in range(runs):
        for net in ("none", "bridge"):
            t0 = time.perf_counter()
            sh(*base, "--network", net, "--rootfs", rootfs, "/bin/true")
            res[net].append(time.perf_counter() - t0)
    return statistics.median(res["none"]), statistics.median(res["bridge"])


def iperf(b, server, client, ip, seconds):
    srv = subprocess.Popen(["nsenter", "-t", str(server.pid), "-n", "iperf3", "-s", "-1", "-B", ip],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    out = sh("nsenter", "-t", str(client.pid), "-n", "iperf3", "-c", ip, "-t", str(seconds), "-J").stdout
    srv.wait(timeout=30)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"]


def throughput(b, seconds):
    s, c = b.spawn(), b.spawn()
    js = json.loads(b.berth("network", "attach", "", "--id", "iperf-s", "--pid", str(s.pid), "--format", "json").stdout)
    b.berth("network", "attach", "", "--id", "iperf-c", "--pid", str(c.pid))
    over_bridge = iperf(b, s, c, js["ip"], seconds)
    b.berth("network", "detach", "iperf-s")
    b.berth("network", "detach", "iperf-c")
    s2, c2 = b.spawn(), b.spawn()
    sh("ip", "netns", "exec", b.ns, "ip", "link", "add", "hv0", "netns", str(s2.pid), "type", "veth", "peer", "name",
       "hv1", "netns", str(c2.pid))
    for p, name, addr in ((s2, "hv0", "192.168.77.1/24"), (c2, "hv1", "192.168.77.2/24")):
        sh("nsenter", "-t", str(p.pid), "-n", "ip", "addr", "add", addr, "dev", name)
        sh("nsenter", "-t", str(p.pid), "-n", "ip", "link", "set", name, "up")
    by_hand = iperf(b, s2, c2, "192.168.77.1", seconds)
    return over_bridge, by_hand


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=5)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py: needs root (network namespaces)")
    b = Bench()
    try:
        berth, hook = berth_setup_cost(b, a.runs)
        have_podman = shutil.which("podman") is not None
        if have_podman:
            none, bridge = podman_setup_cost(b, a.runs)
            pod = bridge - none
        print(f"setup  berth attach+detach (2 CLI processes): {berth * 1000:8.1f} ms (median of {a.runs})")
        print(f"setup  berth hooks inside the process:        {hook * 1000:8.1f} ms (what berth run spends)")
        if have_podman:
            print(f"setup  podman run --network none:             {none * 1000:8.1f} ms")
            print(f"setup  podman run --network bridge:           {bridge * 1000:8.1f} ms")
            print(f"setup  podman network cost (bridge - none):   {pod * 1000:8.1f} ms")
            print(f"setup  ratio berth CLI / podman:              {berth / pod:8.3f}")
            print(f"setup  ratio berth hooks / podman:            {hook / pod:8.3f}  (target <= 0.25)")
        if shutil.which("iperf3"):
            br, hand = throughput(b, a.seconds)
            print(f"tcp    over berth bridge (veth-bridge-veth):  {br / 1e9:8.2f} Gbit/s")
            print(f"tcp    veth pair by hand:                     {hand / 1e9:8.2f} Gbit/s")
            print(f"tcp    ratio bridge / by hand:                {br / hand:8.3f}  (target >= 0.90)")
        else:
            print("tcp    skipped: iperf3 not installed (apt-get install iperf3)")
    finally:
        b.close()


if __name__ == "__main__":
    main()
