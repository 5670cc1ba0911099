"""A VM and containers on one berth network: each reaches the other by name through the embedded
DNS. The VM boots the stock kernel with berth's initramfs (QEMU/TCG on this machine), its
virtio-net on a tap on the same bridge as the containers' veths. Everything lives in a network
namespace the test creates."""
import json
import os
import re
import time

import pytest

from netns_helpers import container_netns, free_port

pytestmark = pytest.mark.skipif(not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]
                                if os.path.isdir("/boot") else True, reason="no guest kernel installed")


@pytest.fixture
def ns(berth_env, busybox_rootfs):
    yield from container_netns(berth_env, busybox_rootfs)


def address_of(out):
    addrs = re.findall(r"Address:\s+(\d+\.\d+\.\d+\.\d+)", out.split("Name:", 1)[-1])
    return addrs[0] if addrs else None


# busybox's wget crashes in these static builds when a connection is refused; nc does the job.
GET = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 {} 80 | tail -n 1'


def test_vm_and_container_reach_each_other_by_name(ns, berth_env):
    # berth_env's berth.conf makes none the default: -p has no network to go on.
    p = ns.berth("vm", "create", "nonet", "--image", "busybox", "-p", "8080:80", check=False)
    assert p.returncode != 0 and "-p needs a network" in p.stderr
    p = ns.berth("vm", "create", "hostnet", "--image", "busybox", "--network", "host", check=False)
    assert p.returncode != 0 and "cannot use the host's network" in p.stderr
    # From here on the product's default (no berth.conf): neither the VM nor the container names a
    # network, both land on the default network "berth".
    os.unlink(berth_env["BERTH_ROOT"] + "/berth.conf")
    port = free_port()
    # With a static address and aliases (kept in the VM's record, applied at its start).
    ns.berth("vm", "create", "dbvm", "--image", "busybox", "-p", f"{port}:80", "--memory", "192",
             "--ip", "10.89.0.200", "--network-alias", "store", "--network-alias", "Cache",
             "--", "/bin/sh",
             "-c", "echo served-by-vm > /var/www/index.html; exec httpd -f -p 80 -h /var/www")
    assert json.loads(ns.berth("vm", "inspect", "dbvm").stdout)[0]["network"] == "berth"
    ns.berth("vm", "start", "dbvm", timeout=120)
    ns.berth("run", "-d", "--name", "web", "busybox", "sh", "-c",
             "echo served-by-container > /var/www/index.html; exec httpd -f -p 80 -h /var/www")
    # Container -> VM, by the VM's name (the VM gets its lease before it boots).
    vm_ip = address_of(ns.berth("exec", "web", "nslookup", "dbvm").stdout)
    assert vm_ip == "10.89.0.200"
    assert vm_ip == json.loads(ns.berth("vm", "inspect", "dbvm").stdout)[0]["ip"]
    for alias in ("store", "cache", "STORE.berth"):
        assert address_of(ns.berth("exec", "web", "nslookup", alias).stdout) == vm_ip, alias
    deadline = time.time() + 240
    while True:
        p = ns.berth("exec", "web", "sh", "-c", GET.format("dbvm"), check=False)
        if p.stdout or time.time() > deadline:
            break
        time.sleep(1)
    assert p.stdout == "served-by-vm\n", p.stderr
    # ... and by its alias.
    assert ns.berth("exec", "web", "sh", "-c", GET.format("store")).stdout == "served-by-vm\n"
    # Published on the (test) host's loopback.
    out = ns.run("curl", "-s", "-m", "10", f"http://127.0.0.1:{port}/", check=False)
    assert out.stdout == "served-by-vm\n", out.stderr
    # VM -> container, by the container's name, through the network's resolver.
    out = ns.berth("vm", "exec", "dbvm", "nslookup", "web", timeout=120).stdout
    ctr_ip = address_of(out)
    assert ctr_ip and ctr_ip != vm_ip, out
    p = ns.berth("vm", "exec", "dbvm", "sh", "-c", GET.format("web"), timeout=120)
    assert p.stdout == "served-by-container\n"
    assert "search berth" in ns.berth("vm", "exec", "dbvm", "cat", "/etc/resolv.conf").stdout
    # Removing the VM removes its tap, lease and published port.
    ns.berth("vm", "rm", "--force", "dbvm")
    assert ns.links("bt") == []
    assert str(port) not in ns.ruleset()
    ns.berth("rm", "-f", "web")
    assert ns.links("bv") == []
