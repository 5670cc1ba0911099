"""OCI hooks: all six kinds run at their point of the lifecycle with the state on stdin, in the
right namespaces; a failing or hanging hook fails create cleanly; poststart/poststop failures are
warnings."""
import json
import os
import time

from ocilib import default_config, oci  # noqa: F401


def hook_script(tmp_path, log):
    """A hook that appends its name, the state it got and the namespace it ran in to log."""
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n"
                      f"state=$(cat)\n"
                      f'echo "$1 $(readlink /proc/self/ns/mnt) $state" >> {log}\n')
    script.chmod(0o755)
    return str(script)


def test_every_hook_kind_runs_in_order_with_state(oci, tmp_path):
    log = tmp_path / "hooks.log"
    script = hook_script(tmp_path, log)
    cfg = default_config(["/bin/true"])
    kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    cfg["hooks"] = {k: [{"path": script, "args": ["hook.sh", k]}] for k in kinds}
    cfg["annotations"] = {"who": "hooks-test"}
    # startContainer runs after pivot_root: its log must be reachable from inside the container.
    cfg["mounts"].append({"destination": str(tmp_path), "type": "bind", "source": str(tmp_path), "options": ["bind"]})
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["prestart", "createRuntime", "createContainer"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    ctr_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert lines[0].split()[1] == host_mnt and lines[1].split()[1] == host_mnt
    assert lines[2].split()[1] == ctr_mnt
    state = json.loads(lines[0].split(" ", 2)[2])
    assert state["id"] == cid and state["pid"] == pid and state["bundle"] == str(b)
    assert state["annotations"] == {"who": "hooks-test"}
    oci.ok("start", cid)
    deadline = time.time() + 5
    while oci.state(cid)["status"] != "stopped" and time.time() < deadline:
        time.sleep(0.02)
    oci.ok("delete", cid)
    names = [line.split()[0] for line in log.read_text().splitlines()]
    assert names == kinds
    lines = log.read_text().splitlines()
    assert lines[3].split()[1] == ctr_mnt  # startContainer: in the container
    assert json.loads(lines[5].split(" ", 2)[2])["status"] == "stopped"


def test_failing_prestart_hook_fails_create_and_leaves_nothing(oci, tmp_path):
    cfg = default_config(["/bin/true"])
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.fails("create", "--bundle", b, cid, contains="hooks.createRuntime[0] /bin/false: exited with status 1")
    assert cid not in oci.list_ids()


def test_hook_timeout(oci, tmp_path):
    cfg = default_config(["/bin/true"])
    cfg["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    start = time.time()
    oci.fails("create", "--bundle", b, cid, contains="timed out after 1s")
    assert time.time() - start < 10
    assert cid not in oci.list_ids()


def test_failing_poststop_hook_is_a_warning(oci, tmp_path):
    cfg = default_config(["/bin/true"])
    cfg["hooks"] = {"poststop": [{"path": "/bin/false"}], "poststart": [{"path": "/bin/false"}]}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    p = oci.cmd("run", "--bundle", b, cid)
    assert p.returncode == 0 and "warning" in p.stderr
    assert cid not in oci.list_ids()
