"""Static addresses and aliases for VMs, and --ip reservations for every workload.

A VM created with --ip/--network-alias gets them at each start (they are in its record), its name
and aliases resolve in berth's DNS for the containers on its network, and its address is reserved
from the create to the rm: automatic assignment skips it while the VM is stopped, a second create
asking for it is refused naming the holder. The same reservation holds for containers
(create --ip). The VM boots the console-echo ring-3 test guest on berth-vmm (BERTH_VM_KERNEL; this
KVM cannot boot a stock kernel): it ignores its NIC, but its tap, lease and DNS records are
berth's real ones. Everything lives in a network namespace the test creates and deletes."""
import ipaddress
import json
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

from conftest import BUILD
from netns_helpers import container_netns

ECHO = os.path.join(BUILD, "tests", "guests", "console-echo.pvh")


@pytest.fixture
def ns(berth_env, busybox_rootfs):
    yield from container_netns(berth_env, busybox_rootfs)


def answers(ns, ctr, name):
    """The addresses the container's resolver (berth's, on its network) gives for name, [] for NXDOMAIN."""
    p = ns.berth("exec", ctr, "nslookup", name, check=False)
    if p.returncode != 0:
        return []
    return re.findall(r"Address:\s+(\d+\.\d+\.\d+\.\d+)", p.stdout.split("Name:", 1)[-1])


def addr_of(ns, ctr):
    out = ns.berth("exec", ctr, "ip", "-o", "-4", "addr", "show", "eth0").stdout
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    assert m, out
    return m.group(1)


def names(ns, what):
    if what == "vm":
        return sorted(v["name"] for v in json.loads(ns.berth("vm", "ls", "--format", "json").stdout))
    return sorted(c["name"] for c in json.loads(ns.berth("ps", "-a", "--format", "json").stdout))


def reservations(ns):
    """(network, name, address) of berth's address reservations, read from its state database."""
    db = sqlite3.connect(os.path.join(ns.env["BERTH_ROOT"], "berth.db"), timeout=10)
    try:
        rows = db.execute("SELECT network, name, ip FROM net_reservations ORDER BY ip").fetchall()
    finally:
        db.close()
    return [(n, w, str(ipaddress.IPv4Address(ip))) for n, w, ip in rows]


def vm_inspect(ns, name):
    return json.loads(ns.berth("vm", "inspect", name).stdout)[0]


def test_create_ip_is_reserved_until_rm(ns):
    # The default network does not exist yet: the create records it (nothing brought up) to reserve
    # the address automatic assignment would hand out first.
    ns.berth("create", "--name", "c1", "--network", "berth", "--ip", "10.89.0.2", "--network-alias", "front",
             "busybox", "sleep", "120")
    assert ns.links("berth0") == []
    ns.berth("run", "-d", "--name", "c2", "--network", "berth", "busybox", "sleep", "120")
    assert addr_of(ns, "c2") != "10.89.0.2"
    ns.berth("start", "c1")
    assert addr_of(ns, "c1") == "10.89.0.2"
    # A second create asking for it fails at create, naming the holder, and leaves nothing.
    p = ns.berth("create", "--name", "c3", "--network", "berth", "--ip", "10.89.0.2", "busybox", "true", check=False)
    assert p.returncode != 0 and "10.89.0.2 on network 'berth' is already in use by c1" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    # Stopped, c1 keeps it: a container started meanwhile gets another one, c3 is still refused.
    ns.berth("stop", "-t", "0", "c1")
    ns.berth("run", "-d", "--name", "c4", "--network", "berth", "busybox", "sleep", "120")
    assert addr_of(ns, "c4") not in ("10.89.0.2", addr_of(ns, "c2"))
    p = ns.berth("run", "-d", "--name", "c3", "--network", "berth", "--ip", "10.89.0.2", "busybox", "true",
                 check=False)
    assert p.returncode != 0 and "10.89.0.2 on network 'berth' is already reserved by c1" in p.stderr, p.stderr
    # ... and its alias.
    p = ns.berth("run", "-d", "--name", "c3", "--network", "berth", "--network-alias", "FRONT", "busybox", "true",
                 check=False)
    assert p.returncode != 0 and "alias 'FRONT' is already used on network 'berth' by c1" in p.stderr, p.stderr
    assert names(ns, "ctr") == ["c1", "c2", "c4"]
    ns.berth("start", "c1")
    assert addr_of(ns, "c1") == "10.89.0.2"
    assert answers(ns, "c2", "front") == ["10.89.0.2"]
    # rm releases it.
    ns.berth("rm", "-f", "c1")
    assert reservations(ns) == []
    ns.berth("run", "-d", "--name", "c3", "--network", "berth", "--ip", "10.89.0.2", "busybox", "sleep", "120")
    assert addr_of(ns, "c3") == "10.89.0.2"
    assert reservations(ns) == [("berth", "c3", "10.89.0.2")]
    # A create killed after its record and reservation, before its files (simulated by removing
    # them): the container is listed, and its rm releases the address.
    ns.berth("create", "--name", "c5", "--network", "berth", "--ip", "10.89.0.9", "busybox", "true")
    cid = json.loads(ns.berth("inspect", "c5").stdout)[0]["id"]
    shutil.rmtree(os.path.join(ns.env["BERTH_ROOT"], "containers", cid))
    assert ("berth", "c5", "10.89.0.9") in reservations(ns)
    ns.berth("rm", "c5")
    assert reservations(ns) == [("berth", "c3", "10.89.0.2")]
    # network connect --ip reserves too (a stopped container), disconnect releases.
    ns.berth("network", "create", "side", "--subnet", "10.88.0.0/29")
    ns.berth("create", "--name", "c6", "--network", "none", "busybox", "sleep", "120")
    ns.berth("network", "connect", "--ip", "10.88.0.2", "side", "c6")
    ns.berth("run", "-d", "--name", "c7", "--network", "side", "busybox", "sleep", "120")
    assert addr_of(ns, "c7") == "10.88.0.3"
    p = ns.berth("network", "connect", "--ip", "10.88.0.2", "side", "c2", check=False)
    assert p.returncode != 0 and "already reserved by c6" in p.stderr, p.stderr
    ns.berth("network", "disconnect", "side", "c6")
    ns.berth("network", "connect", "--ip", "10.88.0.2", "side", "c2")
    # reconcile drops reservations whose workload is gone (here written by hand: berth's own create
    # and rm never leave one) and keeps the others.
    db = sqlite3.connect(os.path.join(ns.env["BERTH_ROOT"], "berth.db"), timeout=10)
    with db:
        db.execute("INSERT INTO net_reservations VALUES ('side', 'ab12', 'ghost', 'vm', ?, 0)",
                   (int(ipaddress.IPv4Address("10.88.0.5")),))
    db.close()
    p = ns.berth("create", "--name", "c8", "--network", "side", "--ip", "10.88.0.5", "busybox", "true", check=False)
    assert p.returncode != 0 and "already reserved by ghost" in p.stderr, p.stderr
    assert ns.berth_json("network", "reconcile")["reservations_released"] == 1
    assert ("side", "c2", "10.88.0.2") in reservations(ns) and ("side", "ghost", "10.88.0.5") not in reservations(ns)
    ns.berth("create", "--name", "c8", "--network", "side", "--ip", "10.88.0.5", "busybox", "true")
    for c in ("c2", "c3", "c4", "c6", "c7", "c8"):
        ns.berth("rm", "-f", c)
    assert reservations(ns) == []
    ns.berth("network", "rm", "side")


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")
def test_vm_ip_and_aliases(ns, tmp_path):
    if not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]:
        pytest.skip("no guest kernel installed (berth vm start prepares its initramfs)")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    ns.env = dict(ns.env, BERTH_VM_KERNEL=ECHO)
    ns.berth("network", "create", "vmnet", "--subnet", "10.86.0.0/29")
    ns.berth("run", "-d", "--name", "peer", "--network", "vmnet", "--network-alias", "peeralias", "busybox",
             "sleep", "300")
    assert addr_of(ns, "peer") == "10.86.0.2"
    vmopts = ("--disk", str(disk), "--backend", "berth-vmm", "--memory", "64", "--network", "vmnet")
    # .3 is the address automatic assignment hands out next.
    ns.berth("vm", "create", "v1", *vmopts, "--ip", "10.86.0.3", "--network-alias", "db", "--network-alias",
             "Primary")
    v = vm_inspect(ns, "v1")
    assert (v["network"], v["static_ip"], v["ip"], v["aliases"]) == ("vmnet", "10.86.0.3", "10.86.0.3",
                                                                     ["db", "Primary"])
    assert v["state"] == "created"
    # Errors: one line each, and no VM record, tap, lease or reservation left.
    for args, msg in ((("--ip", "10.86.0.3"), "address 10.86.0.3 on network 'vmnet' is already reserved by v1"),
                      (("--ip", "10.86.0.2"), "address 10.86.0.2 on network 'vmnet' is already in use by peer"),
                      (("--ip", "10.86.1.4"), "address 10.86.1.4 is not a host address of network 'vmnet'"),
                      (("--ip", "10.86.0.1"), "gateway"),
                      (("--ip", "10.86.0.300"), "--ip"),
                      (("--network-alias", "PEER"), "alias 'PEER' is already used on network 'vmnet' by peer"),
                      (("--network-alias", "peeralias"), "alias 'peeralias' is already used on network 'vmnet' by peer"),
                      (("--network-alias", "bad/alias"), "alias 'bad/alias'"),
                      # v1 does not run: its aliases are held for it all the same.
                      (("--network-alias", "PRIMARY"), "alias 'PRIMARY' is already used on network 'vmnet' by v1")):
        p = ns.berth("vm", "create", "v2", *vmopts, *args, check=False)
        assert p.returncode != 0 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    p = ns.berth("vm", "create", "v2", "--disk", str(disk), "--network", "none", "--ip", "10.86.0.4", check=False)
    assert p.returncode != 0 and "--ip needs a network" in p.stderr, p.stderr
    assert names(ns, "vm") == ["v1"]
    assert reservations(ns) == [("vmnet", "v1", "10.86.0.3")]
    res = ns.berth_json("network", "inspect", "vmnet")[0]["reservations"]
    assert [(r["ip"], r["kind"], r["name"], r["id"]) for r in res] == [("10.86.0.3", "vm", "v1", v["id"])]
    assert f"reserved:  10.86.0.3 vm v1 {v['id']}" in ns.berth("network", "inspect", "vmnet").stdout
    assert ns.links("bt") == []
    # Automatic assignment skips the VM's address while it is not running.
    ns.berth("run", "-d", "--name", "c1", "--network", "vmnet", "busybox", "sleep", "300")
    assert addr_of(ns, "c1") == "10.86.0.4"
    # Running: its tap, and its name and aliases in the DNS of the containers on its network.
    ns.berth("vm", "start", "v1")
    assert len(ns.links("bt")) == 1
    assert vm_inspect(ns, "v1")["ip"] == "10.86.0.3"
    for name in ("v1", "db", "primary", "DB.berth"):
        assert answers(ns, "c1", name) == ["10.86.0.3"], name
    # ... and the containers' names for it: the resolver of its network answers them (the VM
    # asks the gateway, as the container does).
    assert answers(ns, "c1", "peer") == ["10.86.0.2"]
    net = ns.berth_json("network", "inspect", "vmnet")[0]
    wl = {w["name"]: w for w in net["workloads"]}
    assert wl["v1"]["ip"] == "10.86.0.3" and wl["v1"]["aliases"] == ["db", "Primary"], wl
    # A running VM cannot change networks (no NIC hot-plug): a clear message that says what to do.
    for verb, net in (("connect", "berth"), ("disconnect", "vmnet")):
        p = ns.berth("network", verb, net, "v1", check=False)
        assert p.returncode == 1 and "VM v1 is running and cannot" in p.stderr and "stop it first" in p.stderr \
            and "--network" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    p = ns.berth("network", "connect", "vmnet", "v1", check=False)
    assert p.returncode == 1 and "VM v1 is already connected to network 'vmnet'" in p.stderr, p.stderr
    # Stopped, the VM keeps its address; started again, it has it and its aliases again.
    ns.berth("vm", "stop", "--force", "v1")
    assert answers(ns, "c1", "db") == []
    ns.berth("run", "-d", "--name", "c2", "--network", "vmnet", "busybox", "sleep", "300")
    assert addr_of(ns, "c2") == "10.86.0.5"
    ns.berth("vm", "start", "v1")
    assert answers(ns, "c1", "primary") == ["10.86.0.3"]
    ns.berth("vm", "stop", "--force", "v1")
    # Stopped, it can leave its network (address, aliases and reservation go) and join one.
    p = ns.berth("network", "connect", "berth", "v1", check=False)
    assert p.returncode == 1 and "on network 'vmnet' already and a VM has one network interface" in p.stderr
    ns.berth("network", "disconnect", "vmnet", "v1")
    v = vm_inspect(ns, "v1")
    assert (v["network"], v["static_ip"], v["ip"], v["aliases"]) == (None, None, None, [])
    assert reservations(ns) == []
    p = ns.berth("network", "connect", "--ip", "10.86.0.2", "vmnet", "v1", check=False)
    assert p.returncode == 1 and "already in use by peer" in p.stderr, p.stderr
    p = ns.berth("network", "connect", "nosuchnet", "v1", check=False)
    assert p.returncode == 1 and "network 'nosuchnet' does not exist" in p.stderr, p.stderr
    assert vm_inspect(ns, "v1")["network"] is None
    ns.berth("network", "connect", "--ip", "10.86.0.3", "--alias", "db2", "vmnet", "v1")
    v = vm_inspect(ns, "v1")
    assert (v["network"], v["static_ip"], v["aliases"]) == ("vmnet", "10.86.0.3", ["db2"])
    assert reservations(ns) == [("vmnet", "v1", "10.86.0.3")]
    ns.berth("vm", "start", "v1")
    assert answers(ns, "c1", "db2") == ["10.86.0.3"] and answers(ns, "c1", "db") == []
    ns.berth("vm", "stop", "--force", "v1")
    # clone: the same options for one clone; refused for several.
    ns.berth("vm", "template", "create", "tpl", "--from", "v1")
    p = ns.berth("vm", "clone", "tpl", "--count", "2", "--network", "vmnet", "--ip", "10.86.0.6", check=False)
    assert p.returncode != 0 and "--ip names one VM" in p.stderr, p.stderr
    p = ns.berth("vm", "clone", "tpl", "--count", "1", "--network", "vmnet", "--ip", "10.86.0.3", check=False)
    assert p.returncode != 0 and "already reserved by v1" in p.stderr, p.stderr
    ns.berth("vm", "clone", "tpl", "--count", "1", "--network", "vmnet", "--ip", "10.86.0.6", "--network-alias",
             "cache")
    v = vm_inspect(ns, "tpl-1")
    assert (v["static_ip"], v["aliases"]) == ("10.86.0.6", ["cache"])
    assert names(ns, "vm") == ["tpl-1", "v1"]
    # A create killed after its record and reservation, before its disk (simulated by removing the
    # VM's directory): the VM is listed, and its rm releases what it held.
    ns.berth("vm", "create", "v3", *vmopts, "--network-alias", "halfmade")
    shutil.rmtree(os.path.join(ns.env["BERTH_ROOT"], "vms", vm_inspect(ns, "v3")["id"]))
    p = ns.berth("vm", "create", "v4", *vmopts, "--network-alias", "halfmade", check=False)
    assert p.returncode != 0 and "alias 'halfmade' is already used on network 'vmnet' by v3" in p.stderr
    ns.berth("vm", "rm", "v3")
    ns.berth("vm", "create", "v4", *vmopts, "--network-alias", "halfmade")
    ns.berth("vm", "rm", "v4")
    # rm releases the addresses.
    ns.berth("vm", "rm", "v1", "tpl-1")
    assert reservations(ns) == []
    ns.berth("create", "--name", "c3", "--network", "vmnet", "--ip", "10.86.0.3", "busybox", "true")
    ns.berth("vm", "template", "rm", "tpl")
    for c in ("peer", "c1", "c2", "c3"):
        ns.berth("rm", "-f", c)
    ns.berth("network", "rm", "vmnet")
    assert ns.links("bt") == [] and ns.links("bv") == []


def name_reservations(ns):
    """(network, name, kind) of the workload names berth holds, read from its state database."""
    db = sqlite3.connect(os.path.join(ns.env["BERTH_ROOT"], "berth.db"), timeout=10)
    try:
        return db.execute("SELECT network, name, kind FROM net_name_reservations ORDER BY network, name").fetchall()
    finally:
        db.close()


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")
def test_names_are_reserved_from_create(ns, tmp_path):
    if not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]:
        pytest.skip("no guest kernel installed (berth vm start prepares its initramfs)")
    # A workload's own name is held on its network from its create, like its aliases: nothing here
    # runs, and every clash is refused at the second create (or connect), naming the first.
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    ns.env = dict(ns.env, BERTH_VM_KERNEL=ECHO)
    ns.berth("network", "create", "nmnet", "--subnet", "10.85.0.0/29")
    ns.berth("network", "create", "nmother", "--subnet", "10.85.1.0/29")
    vmopts = ("--disk", str(disk), "--backend", "berth-vmm", "--memory", "64", "--network", "nmnet")
    ns.berth("create", "--name", "db", "--network", "nmnet", "busybox", "sleep", "120")
    for args, msg in ((("vm", "create", "v1", *vmopts, "--network-alias", "db"),
                       "alias 'db' is already used on network 'nmnet' by db (its name)"),
                      (("vm", "create", "DB", *vmopts), "name 'DB' is already used on network 'nmnet' by db")):
        p = ns.berth(*args, check=False)
        assert p.returncode != 0 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert names(ns, "vm") == []
    # A VM's name and its aliases are held the same way for containers.
    ns.berth("vm", "create", "v1", *vmopts, "--network-alias", "cache")
    for name, msg in (("v1", "name 'v1' is already used on network 'nmnet' by v1"),
                      ("Cache", "name 'Cache' is already used on network 'nmnet' as an alias of v1")):
        p = ns.berth("create", "--name", name, "--network", "nmnet", "busybox", "true", check=False)
        assert p.returncode != 0 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (name, p.stderr)
    p = ns.berth("create", "--name", "c2", "--network", "nmnet", "--network-alias", "V1", "busybox", "true",
                 check=False)
    assert p.returncode != 0 and "alias 'V1' is already used on network 'nmnet' by v1 (its name)" in p.stderr
    assert names(ns, "ctr") == ["db"]
    # Another network is another namespace; a connect there holds the name from then on.
    ns.berth("create", "--name", "v1", "--network", "nmother", "busybox", "true")
    ns.berth("create", "--name", "c3", "--network", "none", "busybox", "sleep", "120")
    p = ns.berth("network", "connect", "--alias", "db", "nmnet", "c3", check=False)
    assert p.returncode == 1 and "alias 'db' is already used on network 'nmnet' by db (its name)" in p.stderr
    ns.berth("network", "connect", "nmother", "c3")
    assert ("nmother", "c3", "container") in name_reservations(ns)
    ns.berth("network", "disconnect", "nmother", "c3")
    assert ("nmother", "c3", "container") not in name_reservations(ns)
    # rm releases the name: a VM named db is accepted now, and holds it in turn.
    ns.berth("rm", "db")
    ns.berth("vm", "create", "db", *vmopts)
    p = ns.berth("create", "--name", "db", "--network", "nmnet", "busybox", "true", check=False)
    assert p.returncode != 0 and "name 'db' is already used on network 'nmnet' by db" in p.stderr, p.stderr
    # A VM created before names were held (its row removed by hand) holds its name from its start on.
    db = sqlite3.connect(os.path.join(ns.env["BERTH_ROOT"], "berth.db"), timeout=10)
    with db:
        db.execute("DELETE FROM net_name_reservations WHERE name = 'db'")
    db.close()
    ns.berth("vm", "start", "db")
    ns.berth("vm", "stop", "--force", "db")
    assert ("nmnet", "db", "vm") in name_reservations(ns)
    # reconcile drops the names of workloads that no longer exist (written by hand here).
    db = sqlite3.connect(os.path.join(ns.env["BERTH_ROOT"], "berth.db"), timeout=10)
    with db:
        db.execute("INSERT INTO net_name_reservations VALUES ('nmnet', 'ab12', 'ghost', 'vm')")
    db.close()
    p = ns.berth("create", "--name", "ghost", "--network", "nmnet", "busybox", "true", check=False)
    assert p.returncode != 0 and "name 'ghost' is already used on network 'nmnet' by ghost" in p.stderr, p.stderr
    assert ns.berth_json("network", "reconcile")["reservations_released"] == 1
    ns.berth("create", "--name", "ghost", "--network", "nmnet", "busybox", "true")
    ns.berth("vm", "rm", "db", "v1")
    for c in ("v1", "c3", "ghost"):
        ns.berth("rm", "-f", c)
    assert name_reservations(ns) == [] and reservations(ns) == []
    ns.berth("network", "rm", "nmnet")
    ns.berth("network", "rm", "nmother")
