"""200 workloads attached in parallel batches get 200 distinct addresses; after removal no veth,
rule or lease remains."""
import json
import subprocess

from conftest import binary
from netns_helpers import PrivateNetns

N = 200
BATCH = 25


def run_batch(ns, argvs):
    procs = [subprocess.Popen(["ip", "netns", "exec", ns.name, binary("berth"), *a], env=ns.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argvs]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def test_200_parallel_attachments_distinct_and_fully_removed(berth_env):
    ns = PrivateNetns(berth_env)
    try:
        ns.berth("network", "create", "many", "--subnet", "10.140.0.0/24")
        workloads = [ns.spawn("/bin/busybox", "sleep", "300") for _ in range(N)]
        ips = []
        for start in range(0, N, BATCH):
            argvs = []
            for i in range(start, min(start + BATCH, N)):
                a = ["network", "attach", "many", "--id", f"w{i}", "--name", f"w{i}", "--pid",
                     str(workloads[i].pid), "--format", "json"]
                if i % 20 == 0:  # some publish ports, so rules must go too
                    a += ["-p", f"{30000 + i}:80"]
                argvs.append(a)
            ips += [json.loads(o)["ip"] for o in run_batch(ns, argvs)]
        assert len(ips) == N and len(set(ips)) == N
        info = ns.berth_json("network", "inspect", "many")[0]
        assert len(info["workloads"]) == N and len(info["ports"]) == N // 20
        assert len(ns.links("bv")) == N
        assert ns.ruleset().count('comment "wl:') == 2 * (N // 20)
        # Every workload really has its address.
        for i in (0, 77, N - 1):
            out = subprocess.run(["nsenter", "-t", str(workloads[i].pid), "-n", "ip", "-4", "-o", "addr",
                                  "show", "eth0"], capture_output=True, text=True).stdout
            assert f" {ips[i]}/24 " in out
        for start in range(0, N, BATCH):
            run_batch(ns, [["network", "detach", f"w{i}"] for i in range(start, min(start + BATCH, N))])
        assert ns.links("bv") == []
        assert 'comment "wl:' not in ns.ruleset()
        info = ns.berth_json("network", "inspect", "many")[0]
        assert info["workloads"] == [] and info["ports"] == []
        ns.berth("network", "rm", "many")
        assert ns.links("berth") == []
    finally:
        ns.close()
