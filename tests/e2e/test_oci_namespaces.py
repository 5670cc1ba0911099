"""Namespaces: a user namespace with uid/gid mappings, a time namespace with offsets, and joining
existing namespaces by path (a network namespace made by the test, another container's)."""
import json
import os
import subprocess
import uuid

import pytest

from ocilib import default_config, oci  # noqa: F401


def userns_config(args):
    cfg = default_config(args)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    return cfg


def test_user_namespace_with_mappings(oci):
    cfg = userns_config(["/bin/berth-probe"])
    b = oci.bundle(cfg)
    subprocess.run(["chown", "-R", "200000:200000", str(b / "rootfs")], check=True)
    rep = oci.probe(b, "read", "/proc/self/uid_map")
    assert rep["uid"] == 0 and rep["euid"] == 0
    assert rep["read"].split() == ["0", "200000", "65536"]
    assert rep["ns"]["user"] != os.readlink("/proc/self/ns/user")
    # Files it creates belong to the mapped range on the host.
    rep = oci.probe(b, "write", "/tmp/owned", "x")
    assert rep["write"] == "ok"
    assert os.stat(b / "rootfs" / "tmp" / "owned").st_uid == 200000
    # A user inside maps too.
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    (b / "config.json").write_text(json.dumps(cfg))
    rep = oci.probe(b, "write", "/tmp/owned2", "y")
    assert rep["uid"] == 1000 and os.stat(b / "rootfs" / "tmp" / "owned2").st_uid == 201000


def test_unmapped_user_is_a_clear_error(oci):
    cfg = userns_config(["/bin/true"])
    cfg["process"]["user"] = {"uid": 70000, "gid": 0}
    b = oci.bundle(cfg)
    subprocess.run(["chown", "-R", "200000:200000", str(b / "rootfs")], check=True)
    cid = oci.new_id()
    oci.fails("run", "--bundle", b, cid, contains="process.user.uid")
    assert cid not in oci.list_ids()


def test_time_namespace_offsets(oci):
    cfg = default_config(["/bin/cat", "/proc/uptime"])
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 1000, "nanosecs": 0}}
    b = oci.bundle(cfg)
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    out = oci.ok("run", "--bundle", b, oci.new_id()).stdout
    up = float(out.split()[0])
    assert up >= host_up + 86400 * 1000 - 5


@pytest.fixture
def netns():
    name = f"berth-oci-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield f"/run/netns/{name}"
    subprocess.run(["ip", "netns", "del", name], check=False)


def test_join_network_namespace_by_path(oci, netns):
    cfg = default_config(["/bin/berth-probe"])
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    cfg["linux"]["namespaces"].append({"type": "network", "path": netns})
    b = oci.bundle(cfg)
    rep = oci.probe(b)
    assert rep["ns"]["net"] == f"net:[{os.stat(netns).st_ino}]"
    assert rep["pid"] == 1


def test_join_another_containers_namespaces(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    first = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, first)
    pid = oci.state(first)["pid"]
    cfg = default_config(["/bin/berth-probe"])
    cfg["linux"]["namespaces"] = [{"type": "mount"}] + [
        {"type": t, "path": f"/proc/{pid}/ns/{p}"} for t, p in (("pid", "pid"), ("network", "net"), ("ipc", "ipc"), ("uts", "uts"))]
    cfg.pop("hostname")
    b2 = oci.bundle(cfg)
    rep = oci.probe(b2)
    for p in ("pid", "net", "ipc", "uts"):
        assert rep["ns"][p] == os.readlink(f"/proc/{pid}/ns/{p}"), p
    assert rep["pid"] != 1  # a second process in the first container's pid namespace
    oci.ok("delete", "-f", first)


def test_joining_a_missing_namespace_path_fails_cleanly(oci, tmp_path):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
    cfg["linux"]["namespaces"].append({"type": "network", "path": str(tmp_path / "no-such-ns")})
    b = oci.bundle(cfg)
    oci.fails("create", "--bundle", b, oci.new_id(), contains="linux.namespaces[")
    (tmp_path / "not-a-ns").write_text("")
    cfg["linux"]["namespaces"][-1]["path"] = str(tmp_path / "not-a-ns")
    (b / "config.json").write_text(json.dumps(cfg))
    cid = oci.new_id()
    oci.fails("create", "--bundle", b, cid, contains="joining network namespace")
    assert cid not in oci.list_ids()


def test_exec_into_a_user_namespace_container_and_its_devices(oci):
    cfg = userns_config(["/bin/sleep", "1000"])
    b = oci.bundle(cfg)
    subprocess.run(["chown", "-R", "200000:200000", str(b / "rootfs")], check=True)
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    rep = json.loads(oci.ok("exec", cid, "/bin/berth-probe", "read", "/proc/self/uid_map").stdout)
    assert rep["ns"]["user"] == os.readlink(f"/proc/{pid}/ns/user")
    assert rep["uid"] == 0 and rep["read"].split() == ["0", "200000", "65536"]
    # Device nodes cannot be created in a user namespace: the host's are bound instead.
    out = oci.ok("exec", cid, "/bin/sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c").stdout
    assert out.strip() == "3"
