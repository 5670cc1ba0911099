"""berth network create|ls|inspect|rm and bad input, with berth running in a private netns."""
import subprocess

import pytest

from conftest import binary
from netns_helpers import PrivateNetns


@pytest.fixture
def ns(berth_env):
    n = PrivateNetns(berth_env)
    yield n
    n.close()


def test_help_everywhere(berth_env):
    for args in (["network", "--help"], ["network", "create", "--help"], ["network", "ls", "--help"],
                 ["network", "inspect", "--help"], ["network", "rm", "--help"], ["network", "reconcile", "--help"],
                 ["network", "attach", "--help"], ["network", "detach", "--help"], ["network", "dns", "--help"]):
        p = subprocess.run([binary("berth"), *args], env=berth_env, capture_output=True, text=True)
        assert p.returncode == 0, args
        assert "Usage: berth network" in p.stdout


def test_create_ls_inspect_rm(ns):
    ns.berth("network", "create", "alpha", "--subnet", "10.123.0.0/24")
    created = ns.berth_json("network", "create", "beta", "--internal")
    assert created["internal"] is True
    assert created["subnet"] == "10.90.0.0/24" and created["gateway"] == "10.90.0.1"
    nets = {n["name"]: n for n in ns.berth_json("network", "ls")}
    assert nets["alpha"]["subnet"] == "10.123.0.0/24"
    assert nets["alpha"]["gateway"] == "10.123.0.1"
    assert nets["alpha"]["bridge"] == "berth1" and nets["beta"]["bridge"] == "berth2"
    # The bridges exist with the gateway address, the rules carry the networks' tags.
    assert "inet 10.123.0.1/24" in ns.ip("addr", "show", "berth1")
    rules = ns.ruleset()
    assert 'comment "net:alpha"' in rules and 'comment "net:beta"' in rules
    assert "masquerade" in rules
    info = ns.berth_json("network", "inspect", "alpha")
    assert info[0]["name"] == "alpha" and info[0]["workloads"] == [] and info[0]["dns"] == "10.123.0.1"
    text = ns.berth("network", "inspect", "alpha").stdout
    assert "subnet:    10.123.0.0/24" in text
    assert ns.berth("network", "ls", "-q").stdout.split() == ["alpha", "beta"]
    # The resolver answers on the gateway (TCP 53 is listening there).
    assert "10.123.0.1:53" in ns.run("ss", "-ltn").stdout
    ns.berth("network", "rm", "alpha", "beta")
    assert ns.berth_json("network", "ls") == []
    assert ns.links("berth") == []
    assert "net:alpha" not in ns.ruleset()


@pytest.mark.parametrize("args,message", [
    (["create", "bad name"], "only letters, digits"),
    (["create", "x", "--subnet", "10.1.2.3/16"], "host bits set"),
    (["create", "x", "--subnet", "10.1.0.0/33"], "prefix length"),
    (["create", "x", "--subnet", "10.1.0.0/16", "--gateway", "10.2.0.1"], "not a host address"),
    (["create", "x", "--gateway", "10.2.0.1"], "--gateway needs --subnet"),
    (["create", "x", "--subnet", "nonsense"], "not a CIDR"),
    (["inspect", "nope"], "network 'nope' does not exist"),
    (["rm", "nope"], "network 'nope' does not exist"),
    (["ls", "--format", "yaml"], "unknown --format"),
    (["frob"], "unknown command 'frob'"),
])
def test_bad_input_is_a_clear_error(ns, args, message):
    p = ns.berth("network", *args, check=False)
    assert p.returncode != 0
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    # Nothing left behind.
    assert ns.berth_json("network", "ls") == []
    assert ns.links("berth") == []


def test_overlap_and_duplicates_refused(ns):
    ns.berth("network", "create", "one", "--subnet", "10.124.0.0/16")
    p = ns.berth("network", "create", "two", "--subnet", "10.124.5.0/24", check=False)
    assert p.returncode != 0 and "overlaps network 'one'" in p.stderr
    p = ns.berth("network", "create", "one", "--subnet", "10.125.0.0/24", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    assert [n["name"] for n in ns.berth_json("network", "ls")] == ["one"]
    ns.berth("network", "rm", "one")


def test_default_network_from_berth_conf(ns, berth_env):
    with open(berth_env["BERTH_ROOT"] + "/berth.conf", "w") as f:
        f.write("# test\n[network]\ndefault_subnet = 10.126.0.0/24\n")
    w = ns.spawn("/bin/busybox", "sleep", "60")
    a = ns.berth_json("network", "attach", "", "--id", "w1", "--pid", str(w.pid))
    assert a["network"] == "berth" and a["ip"] == "10.126.0.2" and a["gateway"] == "10.126.0.1"
    nets = ns.berth_json("network", "ls")
    assert nets[0]["name"] == "berth" and nets[0]["bridge"] == "berth0" and nets[0]["workloads"] == 1
    p = ns.berth("network", "rm", "berth", check=False)
    assert p.returncode != 0 and "in use" in p.stderr
    ns.berth("network", "detach", "w1")
    ns.berth("network", "rm", "berth")


def test_attach_refuses_host_namespace_and_duplicate_names(ns):
    ns.berth("network", "create", "dup", "--subnet", "10.127.0.0/24")
    # The berth process's own namespace (what --network host would be) is refused.
    p = ns.berth("network", "attach", "dup", "--id", "h", "--netns", "/proc/self/ns/net", check=False)
    assert p.returncode != 0 and "own network namespace" in p.stderr
    w1, w2 = ns.spawn("/bin/busybox", "sleep", "60"), ns.spawn("/bin/busybox", "sleep", "60")
    ns.berth("network", "attach", "dup", "--id", "one", "--name", "db", "--pid", str(w1.pid))
    p = ns.berth("network", "attach", "dup", "--id", "two", "--name", "DB", "--pid", str(w2.pid), check=False)
    assert p.returncode != 0 and "name 'DB' is already used on network 'dup' by db" in p.stderr
    assert len(ns.links("bv")) == 1
    ns.berth("network", "detach", "one")
    ns.berth("network", "rm", "dup")
