#!/usr/bin/python3
"""A/B benchmark of what a network costs `berth run` and `podman run`, in one run, inside a private
network namespace (nothing touches the host's own interfaces). Run as root from the repository:

    bench/run-network.py [--runs N] [--build DIR]

Four commands on the same busybox root filesystem (the project-built one, imported into both
tools' private stores), interleaved so that load drift hits all four alike:
  berth run --rm --network none IMAGE true      berth run --rm IMAGE true   (the default network)
  podman run --rm --network none IMAGE true     podman run --rm --network bridge IMAGE true
The network cost of each tool is its median with a network minus its median without; the ratio is
berth's cost over podman's (issue goal: at most 0.25).

berth: a private BERTH_ROOT without berth.conf, so its default network `berth` (bridge berth0,
10.89.0.0/16, the DNS resolver) is what `berth run` joins, created by the warm-up run.
podman: Debian's podman with a private --root/--runroot, vfs storage, cgroupfs and runc (Debian's
crun refuses this machine's hybrid cgroups), its default bridge network through the network backend
it picks here (printed). Both run under `nsenter --net` into the namespace (not `ip netns exec`,
which would remount /sys and hide the cgroup hierarchy). Everything made is removed."""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        sys.exit(f"run-network: {' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--build", default=os.environ.get("BERTH_BUILD", os.path.join(TOP, "build")))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run-network: needs root (network namespaces)")
    if not shutil.which("podman"):
        sys.exit("run-network: podman is not installed (apt-get install podman)")
    berth = os.path.join(a.build, "src", "berth", "berth")
    ns = "berth-bench-" + uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix="berth-bench-runnet-")
    env = dict(os.environ, BERTH_ROOT=f"{work}/root", BERTH_RUNTIME_DIR=f"{work}/run")
    conf = f"{work}/containers.conf"
    with open(conf, "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\ntmp_dir = "{work}/libpod-tmp"\n')
    penv = dict(os.environ, CONTAINERS_CONF=conf)
    enter = ["nsenter", f"--net=/run/netns/{ns}"]
    podman = enter + ["podman", "--root", f"{work}/podman", "--runroot", f"{work}/podman-run", "--storage-driver",
                      "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    cmds = {
        "berth none": (enter + [berth, "run", "--rm", "--network", "none", "bench/bb", "true"], env),
        "berth default": (enter + [berth, "run", "--rm", "bench/bb", "true"], env),
        "podman none": (podman + ["run", "--rm", "--network", "none", "localhost/bench/bb", "true"], penv),
        "podman bridge": (podman + ["run", "--rm", "--network", "bridge", "localhost/bench/bb", "true"], penv),
    }
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh(f"{TOP}/scripts/make-busybox-rootfs.sh", f"{work}/rootfs")
        sh("tar", "-C", f"{work}/rootfs", "-cf", f"{work}/rootfs.tar", ".")
        sh(*enter, berth, "image", "import", "--rootfs", f"{work}/rootfs", "bench/bb", env=env)
        sh(*podman, "import", "-q", f"{work}/rootfs.tar", "localhost/bench/bb", env=penv)
        backend = sh(*podman, "info", "--format", "{{.Host.NetworkBackend}}", env=penv, check=False).stdout.strip()
        for argv, e in cmds.values():  # warm-up: berth's default network and podman's bridge are made here
            sh(*argv, env=e)
        nets = json.loads(sh(*enter, berth, "network", "ls", "--format", "json", env=env).stdout)
        times = {k: [] for k in cmds}
        for _ in range(a.runs):
            for k, (argv, e) in cmds.items():
                t = time.perf_counter()
                sh(*argv, env=e)
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"load average {os.getloadavg()[0]:.1f}; berth default network: "
              + ", ".join(f"{n['name']} {n['bridge']} {n['subnet']}" for n in nets)
              + f"; podman network backend: {backend or 'unknown'}")
        for k in cmds:
            print(f"{k + ' run --rm true':34s} median {med[k]:8.1f} ms  (of {a.runs})")
        bcost = med["berth default"] - med["berth none"]
        pcost = med["podman bridge"] - med["podman none"]
        print(f"network cost berth (default - none):  {bcost:8.1f} ms")
        print(f"network cost podman (bridge - none):  {pcost:8.1f} ms")
        print(f"ratio berth / podman network cost:    {bcost / pcost:8.3f}  (goal <= 0.25)" if pcost > 0 else
              "ratio: podman's network cost is not positive in this run")
        print(f"ratio berth / podman whole run (with network): {med['berth default'] / med['podman bridge']:.3f}")
    finally:
        for c in json.loads(sh(*enter, berth, "ps", "-a", "--format", "json", env=env, check=False).stdout or "[]"):
            sh(*enter, berth, "rm", "-f", c["id"], env=env, check=False)
        sh(*enter, berth, "network", "rm", "berth", env=env, check=False)
        sh(*podman, "rm", "-af", env=penv, check=False)
        sh(*podman, "system", "reset", "-f", env=penv, check=False)
        # What is left in the namespace (berth's resolver, podman's helpers): by pid, then the netns.
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
