"""The lifecycle's use of the cgroup manager: resources applied at create, pause/resume, update,
ps, kill --all, cgroupsPath honoured, cgroup removed at delete."""
import json
import os
import time

from ocilib import default_config, oci  # noqa: F401

V1 = "/sys/fs/cgroup"


def cgroup_of(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join(V1, ctrls, path.lstrip("/"))
    return None


def test_resources_pause_resume_update_delete(oci):
    cfg = default_config(["/bin/sleep", "1000"])
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 42}}
    cfg["linux"]["cgroupsPath"] = f"/berth-oci-test-{os.getpid()}-{time.time_ns()}"
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    mem = cgroup_of(pid, "memory")
    assert mem.endswith(cfg["linux"]["cgroupsPath"].lstrip("/"))
    assert int(open(os.path.join(mem, "memory.limit_in_bytes")).read()) == 64 << 20
    pids = cgroup_of(pid, "pids")
    assert open(os.path.join(pids, "pids.max")).read().strip() == "42"
    oci.ok("pause", cid)
    assert oci.state(cid)["status"] == "paused"
    oci.fails("pause", cid, contains="it is paused")
    oci.ok("resume", cid)
    assert oci.state(cid)["status"] == "running"
    oci.ok("update", "--memory", "128m", "--pids-limit", "77", cid)
    assert int(open(os.path.join(mem, "memory.limit_in_bytes")).read()) == 128 << 20
    assert open(os.path.join(pids, "pids.max")).read().strip() == "77"
    res = {"pids": {"limit": 99}}
    oci.ok("update", "--resources", "-", cid, input=json.dumps(res))
    assert open(os.path.join(pids, "pids.max")).read().strip() == "99"
    # Processes started by exec join the container's cgroup.
    oci.ok("exec", "-d", cid, "/bin/sleep", "1000")
    listed = json.loads(oci.ok("ps", "--format", "json", cid).stdout)
    assert len(listed) == 2 and pid in listed
    table = oci.ok("ps", cid).stdout.splitlines()
    assert table[0].split()[1] == "PID" and len(table) == 3
    oci.ok("kill", "--all", cid, "KILL")
    deadline = time.time() + 5
    while oci.state(cid)["status"] != "stopped" and time.time() < deadline:
        time.sleep(0.02)
    oci.ok("delete", cid)
    assert not os.path.exists(mem) and not os.path.exists(pids)


def test_delete_force_of_paused_container(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    freezer = cgroup_of(pid, "freezer")
    oci.ok("pause", cid)
    oci.ok("delete", "--force", cid)
    assert not os.path.exists(f"/proc/{pid}/stat") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z"
    assert not os.path.exists(freezer)
