"""200 real containers (berth run -d) started in parallel batches on one berth network get 200
distinct addresses; after removing them all, no veth, lease or rule remains. berth runs in a
network namespace the test creates."""
import concurrent.futures
import json
import subprocess

import pytest

from conftest import binary
from netns_helpers import container_netns

COUNT = 200
BATCH = 20


@pytest.fixture
def ns(berth_env, busybox_rootfs):
    yield from container_netns(berth_env, busybox_rootfs)


def test_200_containers_in_parallel_batches(ns):
    def run(i):
        return subprocess.run(["nsenter", f"--net=/run/netns/{ns.name}", binary("berth"), "run", "-d", "--name",
                               f"n{i}", "--network", "berth", "busybox", "sleep", "600"],
                              env=ns.env, capture_output=True, text=True, timeout=300)
    with concurrent.futures.ThreadPoolExecutor(BATCH) as ex:
        results = list(ex.map(run, range(COUNT)))
    failed = [r.stderr for r in results if r.returncode != 0]
    assert not failed, failed[:3]
    net = json.loads(ns.berth("network", "inspect", "berth", "--format", "json").stdout)[0]
    ips = [w["ip"] for w in net["workloads"] if w["kind"] == "container"]
    assert len(ips) == COUNT and len(set(ips)) == COUNT
    assert len(ns.links("bv")) == COUNT
    names = [f"n{i}" for i in range(COUNT)]
    ns.berth("rm", "-f", *names, timeout=600)
    net = json.loads(ns.berth("network", "inspect", "berth", "--format", "json").stdout)[0]
    assert net["workloads"] == [] and net["ports"] == []
    assert ns.links("bv") == []
    assert "wl:" not in ns.ruleset()
