"""berth run on berth networks: real containers (not simulated workloads) find each other through
the embedded DNS and publish ports with -p. berth runs inside a network namespace the test creates,
so the bridge, veths and nftables rules live there and go with it."""
import json
import os
import re
import time

import pytest

from netns_helpers import container_netns, free_port


@pytest.fixture
def ns(berth_env, busybox_rootfs):
    yield from container_netns(berth_env, busybox_rootfs)


def lookup(ns, ctr, name):
    # busybox's nslookup has its own resolver (static glibc's NSS cannot load in a busybox rootfs).
    out = ns.berth("exec", ctr, "nslookup", name).stdout
    addrs = re.findall(r"Address:\s+(\d+\.\d+\.\d+\.\d+)", out.split("Name:", 1)[-1])
    assert addrs, out
    return addrs[0]


def test_containers_reach_each_other_by_name_and_publish_ports(ns):
    port = free_port()
    ns.berth("run", "-d", "--name", "web", "--network", "berth", "-p", f"{port}:80", "busybox", "sh", "-c",
             "echo hello-from-web > /var/www/index.html; exec httpd -f -p 80 -h /var/www")
    ns.berth("run", "-d", "--name", "client", "--network", "berth", "busybox", "sleep", "120")
    web_ip = lookup(ns, "client", "web")
    assert web_ip == lookup(ns, "client", "web.berth")
    assert web_ip.startswith("10.89.")
    for _ in range(50):
        p = ns.berth("exec", "client", "wget", "-qO-", f"http://{web_ip}/", check=False)
        if p.returncode == 0:
            break
        time.sleep(0.1)
    assert p.stdout == "hello-from-web\n"
    # The container's /etc/hosts and resolv.conf come from the network.
    hosts = ns.berth("exec", "web", "cat", "/etc/hosts").stdout
    assert web_ip in hosts
    assert "search berth" in ns.berth("exec", "web", "cat", "/etc/resolv.conf").stdout
    # Published on the (test) host, loopback included.
    out = ns.run("/bin/busybox", "wget", "-qO-", f"http://127.0.0.1:{port}/", check=False)
    assert out.stdout == "hello-from-web\n", out.stderr
    # A second claim of the same host port is refused, and leaves nothing behind.
    p = ns.berth("run", "-d", "--name", "web2", "--network", "berth", "-p", f"{port}:80", "busybox", "sleep", "5",
                 check=False)
    assert p.returncode == 125 and str(port) in p.stderr
    assert [c["name"] for c in json.loads(ns.berth("ps", "-a", "--format", "json").stdout)].count("web2") == 0
    # Removing the container removes its address, veth and rule.
    ns.berth("rm", "-f", "web")
    assert str(port) not in ns.ruleset()
    out = ns.run("/bin/busybox", "wget", "-T", "2", "-qO-", f"http://127.0.0.1:{port}/", check=False)
    assert out.returncode != 0
    ns.berth("rm", "-f", "client")
    assert ns.links("bv") == []


def test_publish_needs_a_network(ns):
    p = ns.berth("run", "--rm", "-p", "8080:80", "busybox", "true", check=False)
    assert p.returncode == 125 and "-p needs a network" in p.stderr
    p = ns.berth("run", "--rm", "-p", "notaport", "busybox", "true", check=False)
    assert p.returncode == 125 and "-p" in p.stderr
    p = ns.berth("run", "--rm", "--network", "nosuchnet", "busybox", "true", check=False)
    assert p.returncode == 125 and "nosuchnet" in p.stderr


def test_container_on_two_networks(ns):
    ns.berth("network", "create", "backend", "--subnet", "10.77.0.0/24")
    ns.berth("run", "-d", "--name", "db", "--network", "backend", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "app", "--network", "berth", "--network", "backend", "busybox", "sleep", "120")
    addrs = ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout
    assert " eth0 " in addrs and " eth1 " in addrs
    assert "10.89." in addrs and "10.77.0." in addrs
    # Each network's resolver answers for its members; app reaches db on the network they share.
    resolv = ns.berth("exec", "app", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.89.0.1" in resolv and "nameserver 10.77.0.1" in resolv, resolv
    out = ns.berth("exec", "app", "nslookup", "db", "10.77.0.1").stdout
    db_ip = re.findall(r"Address:\s+(\d+\.\d+\.\d+\.\d+)", out.split("Name:", 1)[-1])[0]
    assert db_ip.startswith("10.77.0.")
    assert ns.berth("exec", "app", "ping", "-c", "1", "-W", "3", db_ip).returncode == 0
    p = ns.berth("run", "--rm", "--network", "none", "--network", "berth", "busybox", "true", check=False)
    assert p.returncode == 125 and "cannot be combined" in p.stderr
    ns.berth("rm", "-f", "app", "db")
    ns.berth("network", "rm", "backend")
    assert ns.links("bv") == []


def test_run_without_network_joins_the_default_network(ns, berth_env):
    # The product's default (the berth_env fixture's berth.conf says none): no berth.conf at all.
    conf = berth_env["BERTH_ROOT"] + "/berth.conf"
    os.unlink(conf)
    assert ns.berth_json("network", "ls") == []
    ns.berth("run", "-d", "--name", "db", "busybox", "sleep", "120")
    # Created on first use, as documented: bridge berth0, 10.89.0.0/16, gateway 10.89.0.1.
    nets = ns.berth_json("network", "ls")
    assert [(n["name"], n["bridge"], n["subnet"], n["gateway"], n["workloads"]) for n in nets] == \
        [("berth", "berth0", "10.89.0.0/16", "10.89.0.1", 1)]
    assert "10.89.0.1/16" in ns.ip("-o", "-4", "addr", "show", "berth0")
    db_ip = ns.berth("exec", "db", "ip", "-o", "-4", "addr", "show", "eth0").stdout.split()[3].split("/")[0]
    assert db_ip.startswith("10.89.")
    # An attached `berth run` without --network resolves and reaches db by name.
    out = ns.berth("run", "--rm", "--name", "client", "busybox", "sh", "-c",
                   "cat /etc/resolv.conf; nslookup db; ping -c 1 -W 3 db").stdout
    assert "nameserver 10.89.0.1" in out
    assert db_ip in out.split("Name:", 1)[-1] and "1 packets received" in out, out
    # -p works without --network too (the default network carries it) ...
    ns.berth("run", "-d", "--name", "web", "-p", f"{free_port()}:80", "busybox", "sleep", "120")
    assert lookup(ns, "web", "db") == db_ip
    # ... and --network none still means loopback only.
    links = ns.berth("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert "eth0" not in links and "lo" in links
    # The default is read when a container is created: berth.conf can name another network, or none.
    ns.berth("network", "create", "other", "--subnet", "10.78.0.0/24")
    with open(conf, "w") as f:
        f.write("[network]\ndefault_network = other\n")
    addrs = ns.berth("run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert "10.78.0." in addrs
    with open(conf, "w") as f:
        f.write("[network]\ndefault_network = none\n")
    links = ns.berth("run", "--rm", "busybox", "ip", "-o", "link").stdout
    assert "eth0" not in links
    # db keeps the network it was created on when it restarts.
    ns.berth("restart", "db")
    assert ns.berth("exec", "db", "ip", "-o", "-4", "addr", "show", "eth0").stdout.split()[3].startswith("10.89.")
    with open(conf, "w") as f:
        f.write("[network]\ndefault_network = no such net!\n")
    p = ns.berth("run", "--rm", "busybox", "true", check=False)
    assert p.returncode == 125 and "berth.conf:2: network.default_network" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    ns.berth("rm", "-f", "db", "web")
    ns.berth("network", "rm", "other", "berth")
    assert ns.links("bv") == [] and ns.links("berth") == []


def test_network_connect_and_disconnect_a_running_container(ns):
    ns.berth("network", "create", "side", "--subnet", "10.79.0.0/24")
    ns.berth("run", "-d", "--name", "svc", "--network", "side", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "app", "--network", "berth", "busybox", "sleep", "120")
    svc_ip = lookup(ns, "svc", "svc")
    assert ns.berth("exec", "app", "nslookup", "svc", check=False).returncode != 0  # not on side yet
    ns.berth("network", "connect", "side", "app")
    addrs = ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout
    assert re.search(r" eth0 +inet 10\.89\.", addrs) and re.search(r" eth1 +inet 10\.79\.0\.", addrs), addrs
    assert "nameserver 10.79.0.1" in ns.berth("exec", "app", "cat", "/etc/resolv.conf").stdout
    out = ns.berth("exec", "app", "nslookup", "svc", "10.79.0.1").stdout
    assert svc_ip in out.split("Name:", 1)[-1], out
    # The first network's resolver answers for members of app's other network too (an NXDOMAIN
    # from it would end the lookup), but only for workloads that share that network.
    out = ns.berth("exec", "app", "nslookup", "svc", "10.89.0.1").stdout
    assert svc_ip in out.split("Name:", 1)[-1], out
    ns.berth("run", "-d", "--name", "outsider", "--network", "berth", "busybox", "sleep", "120")
    assert ns.berth("exec", "outsider", "nslookup", "svc", "10.89.0.1", check=False).returncode != 0
    ns.berth("rm", "-f", "outsider")
    assert ns.berth("exec", "app", "ping", "-c", "1", "-W", "3", svc_ip).returncode == 0
    side = ns.berth_json("network", "inspect", "side")[0]
    assert sorted(w["name"] for w in side["workloads"]) == ["app", "svc"]
    # Clear one-line errors, nothing changed.
    for args, rc, msg in ((("connect", "side", "app"), 1, "already connected to network 'side'"),
                          (("connect", "host", "app"), 125, "cannot be connected"),
                          (("connect", "nosuchnet", "app"), 1, "nosuchnet"),
                          (("connect", "side", "nosuchctr"), 1, "nosuchctr"),
                          (("disconnect", "other", "app"), 1, "not connected to network 'other'"),
                          (("connect", "side"), 125, "expected NETWORK CONTAINER")):
        p = ns.berth("network", *args, check=False)
        assert p.returncode == rc and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert len(ns.links("bv")) == 3
    # The record keeps the new network: a restart rejoins both.
    ns.berth("restart", "app")
    addrs = ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout
    assert " eth0 " in addrs and re.search(r" eth1 +inet 10\.79\.0\.", addrs), addrs
    ns.berth("network", "disconnect", "side", "app")
    addrs = ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout
    assert " eth1 " not in addrs and " eth0 " in addrs
    assert "10.79.0.1" not in ns.berth("exec", "app", "cat", "/etc/resolv.conf").stdout
    assert [w["name"] for w in ns.berth_json("network", "inspect", "side")[0]["workloads"]] == ["svc"]
    # A container without a network moves onto one, and back to loopback only.
    ns.berth("run", "-d", "--name", "lone", "--network", "none", "busybox", "sleep", "120")
    ns.berth("network", "connect", "berth", "lone")
    assert re.search(r" eth0 +inet 10\.89\.", ns.berth("exec", "lone", "ip", "-o", "-4", "addr").stdout)
    ns.berth("network", "disconnect", "berth", "lone")
    assert "eth0" not in ns.berth("exec", "lone", "ip", "-o", "link").stdout
    # A created container joins at its start.
    ns.berth("create", "--name", "later", "--network", "none", "busybox", "sleep", "120")
    ns.berth("network", "connect", "side", "later")
    assert ns.links("bv") and len(ns.links("bv")) == 2  # app and svc only: nothing plumbed before start
    ns.berth("start", "later")
    assert re.search(r" eth0 +inet 10\.79\.0\.", ns.berth("exec", "later", "ip", "-o", "-4", "addr").stdout)
    assert lookup(ns, "later", "svc") == svc_ip
    ns.berth("rm", "-f", "app", "svc", "lone", "later")
    ns.berth("network", "rm", "side")
    assert ns.links("bv") == []


def ctr_inspect(ns, ctr):
    return json.loads(ns.berth("inspect", ctr).stdout)


def answers(ns, ctr, name, server=None):
    """The addresses ctr's resolver (or server) gives for name, [] for NXDOMAIN."""
    p = ns.berth("exec", ctr, "nslookup", name, *([server] if server else []), check=False)
    if p.returncode != 0:
        return []
    return re.findall(r"Address:\s+(\d+\.\d+\.\d+\.\d+)", p.stdout.split("Name:", 1)[-1])


def test_network_connect_with_ip_and_aliases(ns):
    ns.berth("network", "create", "front", "--subnet", "10.81.0.0/24")
    ns.berth("network", "create", "back", "--subnet", "10.82.0.0/24")
    ns.berth("run", "-d", "--name", "peer", "--network", "front", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "stranger", "--network", "back", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "app", "--network", "back", "busybox", "sleep", "120")
    ns.berth("network", "connect", "--ip", "10.81.0.50", "--alias", "api", "--alias", "Cache.v2", "front", "app")
    addrs = ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout
    assert re.search(r" eth1 +inet 10\.81\.0\.50/24", addrs), addrs
    # The aliases resolve on front (case-insensitively, also as NAME.berth), not on back.
    assert answers(ns, "peer", "api") == ["10.81.0.50"]
    assert answers(ns, "peer", "cache.V2") == ["10.81.0.50"]
    assert answers(ns, "peer", "api.berth") == ["10.81.0.50"]
    assert ns.berth("exec", "peer", "ping", "-c", "1", "-W", "3", "api").returncode == 0
    assert answers(ns, "stranger", "api") == []
    wl = {w["name"]: w for w in ns.berth_json("network", "inspect", "front")[0]["workloads"]}
    assert wl["app"]["ip"] == "10.81.0.50" and wl["app"]["aliases"] == ["api", "Cache.v2"]
    assert wl["peer"]["aliases"] == []
    assert "aliases=api,Cache.v2" in ns.berth("network", "inspect", "front").stdout
    assert "--alias NAME" in ns.berth("network", "connect", "--help").stdout
    assert "--network-alias NAME" in ns.berth("run", "--help").stdout
    cfg = ctr_inspect(ns, "app")[0]["config"]
    assert cfg["network_opts"]["front"] == {"ip": "10.81.0.50", "aliases": ["api", "Cache.v2"]}
    # Errors: one line each, the container and the networks unchanged.
    ns.berth("run", "-d", "--name", "late", "--network", "back", "busybox", "sleep", "120")
    for args, rc, msg in ((("--ip", "10.82.0.9", "front", "late"), 125, "not a host address of network 'front'"),
                          (("--ip", "10.81.0.255", "front", "late"), 125, "not a host address"),
                          (("--ip", "10.81.0.0", "front", "late"), 125, "not a host address"),
                          (("--ip", "10.81.0.1", "front", "late"), 1, "gateway"),
                          (("--ip", "10.81.0.50", "front", "late"), 1, "10.81.0.50 on network 'front' is already in "
                                                                       "use by app"),
                          (("--ip", "10.81.0.300", "front", "late"), 125, "--ip"),
                          (("--alias", "API", "front", "late"), 1, "alias 'API' is already used on network 'front'"),
                          (("--alias", "peer", "front", "late"), 1, "alias 'peer' is already used"),
                          (("--alias", "-bad", "front", "late"), 125, "alias '-bad'"),
                          (("--alias", "a b", "front", "late"), 125, "alias 'a b'"),
                          (("--alias", "x", "--bogus", "front", "late"), 125, "--bogus")):
        p = ns.berth("network", "connect", *args, check=False)
        assert p.returncode == rc and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert [w["name"] for w in ns.berth_json("network", "inspect", "front")[0]["workloads"]].count("late") == 0
    assert " eth1 " not in ns.berth("exec", "late", "ip", "-o", "-4", "addr").stdout
    assert "network_opts" not in ctr_inspect(ns, "late")[0]["config"] or \
        "front" not in ctr_inspect(ns, "late")[0]["config"]["network_opts"]
    # A restart keeps the address and the aliases.
    ns.berth("restart", "app")
    assert re.search(r" eth1 +inet 10\.81\.0\.50/24", ns.berth("exec", "app", "ip", "-o", "-4", "addr").stdout)
    assert answers(ns, "peer", "api") == ["10.81.0.50"]
    # Disconnect drops them: the alias and the address are free for another container.
    ns.berth("network", "disconnect", "front", "app")
    assert answers(ns, "peer", "api") == []
    assert "front" not in ctr_inspect(ns, "app")[0]["config"].get("network_opts", {})
    ns.berth("network", "connect", "--ip", "10.81.0.50", "--alias", "api", "front", "late")
    assert answers(ns, "peer", "api") == ["10.81.0.50"]
    # A stopped container gets them at its start; rm takes them away.
    ns.berth("create", "--name", "cold", "--network", "none", "busybox", "sleep", "120")
    # ... checked at once all the same.
    for args, msg in ((("--ip", "10.81.0.50"), "already in use by late"), (("--alias", "API"), "already used"),
                      (("--ip", "10.81.0.1"), "gateway")):
        p = ns.berth("network", "connect", *args, "front", "cold", check=False)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
    assert ctr_inspect(ns, "cold")[0]["config"]["networks"] == ["none"]
    ns.berth("network", "connect", "--ip", "10.81.0.77", "--alias", "coldalias", "front", "cold")
    ns.berth("start", "cold")
    assert re.search(r" eth0 +inet 10\.81\.0\.77/24", ns.berth("exec", "cold", "ip", "-o", "-4", "addr").stdout)
    assert answers(ns, "peer", "coldalias") == ["10.81.0.77"]
    cold_id = ctr_inspect(ns, "cold")[0]["id"]
    ns.berth("rm", "-f", cold_id)
    assert answers(ns, "peer", "coldalias") == []
    for c in ("peer", "stranger", "app", "late"):
        ns.berth("rm", "-f", ctr_inspect(ns, c)[0]["id"])
    ns.berth("network", "rm", "front", "back")
    assert ns.links("bv") == []


def test_run_with_ip_and_network_alias(ns):
    ns.berth("network", "create", "runnet", "--subnet", "10.83.0.0/24")
    ns.berth("network", "create", "othernet", "--subnet", "10.84.0.0/24")
    ns.berth("run", "-d", "--name", "svc", "--network", "runnet", "--network", "othernet", "--ip", "10.83.0.40",
             "--network-alias", "db", "--network-alias", "primary", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "cli", "--network", "runnet", "busybox", "sleep", "120")
    ns.berth("run", "-d", "--name", "far", "--network", "othernet", "busybox", "sleep", "120")
    addrs = ns.berth("exec", "svc", "ip", "-o", "-4", "addr").stdout
    assert re.search(r" eth0 +inet 10\.83\.0\.40/24", addrs) and re.search(r" eth1 +inet 10\.84\.0\.", addrs), addrs
    assert answers(ns, "cli", "db") == ["10.83.0.40"] and answers(ns, "cli", "primary") == ["10.83.0.40"]
    # The aliases belong to the first network only.
    assert answers(ns, "far", "db") == [] and answers(ns, "far", "svc") != []
    # create --ip: the address is taken at start.
    ns.berth("create", "--name", "fixed", "--network", "runnet", "--ip", "10.83.0.60", "--network-alias", "fx",
             "busybox", "sleep", "120")
    ns.berth("start", "fixed")
    assert re.search(r" eth0 +inet 10\.83\.0\.60/24", ns.berth("exec", "fixed", "ip", "-o", "-4", "addr").stdout)
    assert answers(ns, "cli", "fx") == ["10.83.0.60"]
    # Errors: before anything is created (usage), or at start naming the address/alias holder.
    for args, msg in ((("--ip", "10.83.0.42"), "--ip needs --network"),
                      (("--network", "none", "--network-alias", "x"), "--network-alias needs --network"),
                      (("--network", "runnet", "--ip", "nonsense"), "--ip"),
                      (("--network", "runnet", "--network-alias", "bad/alias"), "alias 'bad/alias'")):
        p = ns.berth("run", "--rm", *args, "busybox", "true", check=False)
        assert p.returncode == 125 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    for args, msg in ((("--ip", "10.83.0.40"), "already in use by svc"),
                      (("--network-alias", "PRIMARY"), "alias 'PRIMARY' is already used on network 'runnet' by"),
                      (("--network-alias", "cli"), "alias 'cli' is already used")):
        p = ns.berth("run", "--rm", "--network", "runnet", *args, "busybox", "true", check=False)
        assert p.returncode != 0 and msg in p.stderr, (args, p.stderr)
    names = [c["name"] for c in json.loads(ns.berth("ps", "-a", "--format", "json").stdout)]
    assert sorted(names) == ["cli", "far", "fixed", "svc"], names
    for c in ("svc", "cli", "far", "fixed"):
        ns.berth("rm", "-f", ctr_inspect(ns, c)[0]["id"])
    ns.berth("network", "rm", "runnet", "othernet")
    assert ns.links("bv") == []
