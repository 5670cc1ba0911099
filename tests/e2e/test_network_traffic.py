"""Traffic between simulated workloads: names through the embedded DNS, published ports,
--internal networks, isolation between networks, VM taps. All inside a private netns."""
import subprocess
import time

import pytest

from netns_helpers import PrivateNetns, free_port, make_rootfs


@pytest.fixture
def ns(berth_env):
    n = PrivateNetns(berth_env)
    yield n
    n.close()


def web(ns, rootfs):
    return ns.spawn("/bin/busybox", "httpd", "-f", "-p", "80", "-h", rootfs + "/var/www")


def attach(ns, network, wid, proc, rootfs, *extra):
    """What `berth run` does: plumb the netns, write etc/ into the rootfs (here bind-mounted)."""
    j = ns.berth_json("network", "attach", network, "--id", wid, "--name", wid, "--pid", str(proc.pid),
                      "--rootfs", rootfs, *extra)
    ns.use_etc(proc, rootfs)
    return j


def wget(ns, proc, url, timeout=3):
    # (busybox 1.35's wget -T crashes: bound it with timeout instead.)
    return ns.inside(proc, "/bin/busybox", "timeout", str(timeout), "/bin/busybox", "wget", "-q", "-O-", url)


def host_wget(ns, url, timeout=3):
    return ns.run("busybox", "timeout", str(timeout), "busybox", "wget", "-q", "-O-", url, check=False)


def test_two_containers_reach_each_other_by_name(ns, busybox_rootfs, tmp_path):
    ns.berth("network", "create", "app", "--subnet", "10.130.0.0/24")
    ra = make_rootfs(busybox_rootfs, tmp_path, "a", "hello from alpha\n")
    rb = make_rootfs(busybox_rootfs, tmp_path, "b", "hello from bravo\n")
    a, b = web(ns, ra), web(ns, rb)
    ja = attach(ns, "app", "alpha", a, ra)
    jb = attach(ns, "app", "bravo", b, rb)
    assert ja["ip"] != jb["ip"]
    resolv = open(ra + "/etc/resolv.conf").read()
    assert "nameserver 10.130.0.1" in resolv and "search berth" in resolv
    assert f"{ja['ip']}\talpha.berth alpha" in open(ra + "/etc/hosts").read()
    # By plain name and by NAME.berth, both directions, through the resolver on the gateway.
    assert wget(ns, a, "http://bravo/").stdout == "hello from bravo\n"
    assert wget(ns, b, "http://alpha.berth/").stdout == "hello from alpha\n"
    assert jb["ip"] in ns.inside(a, "/bin/busybox", "nslookup", "bravo.berth").stdout
    # Over TCP too (dig +tcp is not in busybox: a raw DNS-over-TCP query from the workload).
    assert ns.inside(a, "/bin/busybox", "nslookup", "nobody.berth").returncode != 0
    ns.berth("network", "detach", "alpha")
    ns.berth("network", "detach", "bravo")
    assert ns.links("bv") == []
    ns.berth("network", "rm", "app")


def test_published_port_reachable_and_removed_with_workload(ns, busybox_rootfs, tmp_path):
    ns.berth("network", "create", "pub", "--subnet", "10.131.0.0/24")
    r = make_rootfs(busybox_rootfs, tmp_path, "w", "published!\n")
    w = web(ns, r)
    port = free_port()
    attach(ns, "pub", "web1", w, r, "-p", f"{port}:80")
    info = ns.berth_json("network", "inspect", "pub")[0]
    assert info["ports"] == [{"host_ip": "", "host_port": port, "protocol": "tcp", "port": 80,
                              "ip": info["workloads"][0]["ip"], "workload": "web1"}]
    # From the (test) host: loopback and the gateway address.
    for host in ("127.0.0.1", "10.131.0.1"):
        p = host_wget(ns, f"http://{host}:{port}/")
        assert p.stdout == "published!\n", (host, p.stderr)
    # A second claim of the same host port is refused with a clear error, and leaves nothing.
    w2 = web(ns, make_rootfs(busybox_rootfs, tmp_path, "w2", "second\n"))
    p = ns.berth("network", "attach", "pub", "--id", "web2", "--pid", str(w2.pid), "-p", f"{port}:80",
                 check=False)
    assert p.returncode != 0
    assert f"host port {port}/tcp is already published by web1" in p.stderr
    assert len(ns.berth_json("network", "inspect", "pub")[0]["workloads"]) == 1
    assert len(ns.links("bv")) == 1
    # Removing the workload removes its rules: the port is closed and free again.
    ns.berth("network", "detach", "web1")
    assert "wl:web1" not in ns.ruleset()
    p = host_wget(ns, f"http://127.0.0.1:{port}/", timeout=2)
    assert p.returncode != 0
    ns.berth("network", "attach", "pub", "--id", "web2", "--pid", str(w2.pid), "-p", f"127.0.0.1:{port}:80")
    p = host_wget(ns, f"http://127.0.0.1:{port}/")
    assert p.stdout == "second\n"
    ns.berth("network", "detach", "web2")
    ns.berth("network", "rm", "pub")


def make_outside(ns, busybox_rootfs, tmp_path):
    """A third namespace standing for 'the internet': reachable from the test netns over a veth,
    with no route back to any berth subnet (so only masqueraded traffic gets answers)."""
    r = make_rootfs(busybox_rootfs, tmp_path, "outside", "outside world\n")
    o = web(ns, r)
    ns.run("ip", "link", "add", "xout", "type", "veth", "peer", "name", "eth0", "netns", str(o.pid))
    ns.run("ip", "addr", "add", "10.250.0.1/24", "dev", "xout")
    ns.run("ip", "link", "set", "xout", "up")
    ns.run("nsenter", "-t", str(o.pid), "-n", "ip", "addr", "add", "10.250.0.2/24", "dev", "eth0")
    ns.run("nsenter", "-t", str(o.pid), "-n", "ip", "link", "set", "eth0", "up")
    ns.run("nsenter", "-t", str(o.pid), "-n", "ip", "link", "set", "lo", "up")
    return o


def test_internal_network_cannot_reach_outside(ns, busybox_rootfs, tmp_path):
    make_outside(ns, busybox_rootfs, tmp_path)
    ns.berth("network", "create", "open", "--subnet", "10.132.0.0/24")
    ns.berth("network", "create", "closed", "--subnet", "10.133.0.0/24", "--internal")
    a = ns.spawn("/bin/busybox", "sleep", "120")
    b = ns.spawn("/bin/busybox", "sleep", "120")
    attach(ns, "open", "a", a, make_rootfs(busybox_rootfs, tmp_path, "a"))
    attach(ns, "closed", "b", b, make_rootfs(busybox_rootfs, tmp_path, "b"))
    # The ordinary network reaches outside (masqueraded: outside has no route back to 10.132/24).
    assert wget(ns, a, "http://10.250.0.2/").stdout == "outside world\n"
    # The internal one reaches neither outside nor the host's other addresses...
    assert wget(ns, b, "http://10.250.0.2/", timeout=2).returncode != 0
    assert ns.inside(b, "/bin/busybox", "ping", "-c", "1", "-W", "1", "10.250.0.1").returncode != 0
    # ...but its own resolver on the gateway still answers for its members.
    out = ns.inside(b, "/bin/busybox", "nslookup", "b", "10.133.0.1").stdout
    assert "10.133.0." in out
    for i in ("a", "b"):
        ns.berth("network", "detach", i)
    ns.berth("network", "rm", "open", "closed")


def test_two_networks_are_isolated(ns, busybox_rootfs, tmp_path):
    ns.berth("network", "create", "red", "--subnet", "10.134.0.0/24")
    ns.berth("network", "create", "blue", "--subnet", "10.135.0.0/24")
    r1, r2, r3 = (make_rootfs(busybox_rootfs, tmp_path, n, n + "\n") for n in ("r1", "r2", "b1"))
    p1, p2, p3 = web(ns, r1), web(ns, r2), web(ns, r3)
    attach(ns, "red", "r1", p1, r1)
    attach(ns, "red", "r2", p2, r2)
    j3 = attach(ns, "blue", "b1", p3, r3)
    assert wget(ns, p1, "http://r2/").stdout == "r2\n"
    assert wget(ns, p1, f"http://{j3['ip']}/", timeout=2).returncode != 0
    assert wget(ns, p3, "http://10.134.0.2/", timeout=2).returncode != 0
    # Names of the other network do not resolve either.
    assert ns.inside(p1, "/bin/busybox", "nslookup", "b1.berth").returncode != 0
    for i in ("r1", "r2", "b1"):
        ns.berth("network", "detach", i)
    ns.berth("network", "rm", "red", "blue")


def test_vm_tap_on_the_same_bridge(ns, busybox_rootfs, tmp_path):
    ns.berth("network", "create", "mix", "--subnet", "10.136.0.0/24")
    c = ns.spawn("/bin/busybox", "sleep", "120")
    attach(ns, "mix", "app", c, make_rootfs(busybox_rootfs, tmp_path, "c"))
    v = ns.berth_json("network", "attach-vm", "mix", "--id", "vm1", "--name", "db", "-p", "15432:5432")
    assert v["kernel_ip"] == f"ip={v['ip']}::10.136.0.1:255.255.255.0:db:eth0:off:10.136.0.1"
    tap = v["host_interface"]
    details = ns.ip("-d", "link", "show", tap)
    assert "tun type tap" in details and "master berth1" in details
    # The container finds the VM by name; the same VM id gets the same MAC again.
    assert v["ip"] in ns.inside(c, "/bin/busybox", "nslookup", "db").stdout
    ns.berth("network", "detach", "vm1")
    assert ns.links("bt") == [] and "wl:vm1" not in ns.ruleset()
    v2 = ns.berth_json("network", "attach-vm", "mix", "--id", "vm1", "--name", "db")
    assert v2["mac"] == v["mac"]
    ns.berth("network", "detach", "vm1")
    ns.berth("network", "detach", "app")
    ns.berth("network", "rm", "mix")


def test_reconcile_after_crash_and_reboot(ns, busybox_rootfs, tmp_path):
    ns.berth("network", "create", "rc", "--subnet", "10.137.0.0/24")
    w = ns.spawn("/bin/busybox", "sleep", "120")
    ns.berth("network", "attach", "rc", "--id", "dies", "--pid", str(w.pid), "-p", "18080:80")
    # The workload dies without detach: its namespace and veth vanish, lease and rules stay.
    w.kill()
    w.wait()
    for _ in range(100):
        if not ns.links("bv"):
            break
        time.sleep(0.05)
    assert "wl:dies" in ns.ruleset()
    # A stale veth of a crashed attach, never recorded.
    ns.run("ip", "link", "add", "bv0000deadbeef", "type", "veth", "peer", "name", "bvpeer00000000")
    stats = ns.berth_json("network", "reconcile")
    assert stats["leases_released"] == 1 and stats["rules_removed"] == 1 and stats["links_removed"] >= 1
    assert ns.berth_json("network", "inspect", "rc")[0]["workloads"] == []
    assert "wl:dies" not in ns.ruleset() and ns.links("bv") == []
    # "Reboot": bridge and table gone; reconcile brings the network back from the state db.
    ns.run("ip", "link", "del", "berth1")
    ns.run("nft", "delete", "table", "ip", "berth")
    stats = ns.berth_json("network", "reconcile")
    assert stats["networks_restored"] == 1
    assert "inet 10.137.0.1/24" in ns.ip("addr", "show", "berth1")
    assert 'comment "net:rc"' in ns.ruleset()
    ns.berth("network", "rm", "rc")


FAKE_UPSTREAM = r"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.250.0.2", 53))
while True:
    q, addr = s.recvfrom(512)
    # Answer every query with one A record 192.0.2.7, echoing id and question.
    end = 12
    while q[end]:
        end += q[end] + 1
    end += 5
    hdr = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7])
    s.sendto(hdr + q[12:end] + ans, addr)
"""

TCP_QUERY = r"""
import socket, struct, sys
name = sys.argv[1]
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
for label in name.split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
c = socket.create_connection((sys.argv[2], 53), timeout=5)
c.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", c.recv(2))[0]
r = b""
while len(r) < n:
    r += c.recv(n - len(r))
assert r[:2] == b"\x42\x42"
print(r[3] & 15, ".".join(str(b) for b in r[-4:]))
"""


def test_dns_over_tcp_and_forwarding(ns, busybox_rootfs, tmp_path):
    o = make_outside(ns, busybox_rootfs, tmp_path)
    up = subprocess.Popen(["nsenter", "-t", str(o.pid), "-n", "/usr/bin/python3", "-c", FAKE_UPSTREAM])
    ns.procs.append(up)
    ns.set_resolv_conf("nameserver 10.250.0.2\n")
    ns.berth("network", "create", "fw", "--subnet", "10.138.0.0/24")
    c = ns.spawn("/bin/busybox", "sleep", "120")
    j = attach(ns, "fw", "client", c, make_rootfs(busybox_rootfs, tmp_path, "c"))
    # Our names over TCP; other names forwarded to the host's resolver (UDP and TCP).
    out = ns.inside(c, "/usr/bin/python3", "-c", TCP_QUERY, "client.berth", "10.138.0.1")
    assert out.stdout.split() == ["0", j["ip"]], out.stderr
    for _ in range(50):
        if "192.0.2.7" in ns.inside(c, "/bin/busybox", "nslookup", "example.test").stdout:
            break
        time.sleep(0.1)
    assert "192.0.2.7" in ns.inside(c, "/bin/busybox", "nslookup", "example.test").stdout
    out = ns.inside(c, "/usr/bin/python3", "-c", TCP_QUERY, "www.example.test", "10.138.0.1")
    assert out.stdout.split() == ["0", "192.0.2.7"], out.stderr
    ns.berth("network", "detach", "client")
    ns.berth("network", "rm", "fw")


def test_dhcp_answers_leased_macs(ns, busybox_rootfs, tmp_path):
    """Guests other than ours configure themselves by DHCP: the resolver process answers on the
    bridge with the address leased to the MAC (here a container's veth stands in for a tap)."""
    ns.berth("network", "create", "dh", "--subnet", "10.139.0.0/24")
    c = ns.spawn("/bin/busybox", "sleep", "120")
    j = attach(ns, "dh", "guest", c, make_rootfs(busybox_rootfs, tmp_path, "g"))
    assert ns.inside(c, "ip", "addr", "flush", "dev", "eth0").returncode == 0
    out = tmp_path / "dhcp.out"
    script = tmp_path / "dhcp.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $ip $subnet $router $dns $domain $hostname" >> {out}\n')
    script.chmod(0o755)
    p = ns.inside(c, "/bin/busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s",
                  str(script))
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert f"bound {j['ip']} 255.255.255.0 10.139.0.1 10.139.0.1 berth guest" in lines, lines
    # A MAC without a lease gets no answer.
    ns.inside(c, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:99")
    p = ns.inside(c, "/bin/busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "2", "-T", "1", "-s",
                  str(script))
    assert p.returncode != 0
    ns.berth("network", "detach", "guest")
    ns.berth("network", "rm", "dh")
