"""berth-oci lifecycle as runc's clients drive it: create/start/state/kill/delete, run, exec, list,
ps, spec, features, --version."""
import json
import os
import signal
import subprocess
import time

from ocilib import default_config, oci, pid_alive  # noqa: F401


def wait_status(oci, cid, status, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if oci.state(cid)["status"] == status:
            return
        time.sleep(0.02)
    assert oci.state(cid)["status"] == status


def test_version_is_runc_three_lines(oci):
    out = oci.ok("--version").stdout.splitlines()
    assert len(out) == 3
    assert out[0].startswith("berth-oci version ")
    assert out[1] == "spec: 1.2.0"
    assert out[2].startswith("libseccomp: ")


def test_run_reports_pid1_hostname_and_new_namespaces(oci):
    b = oci.bundle()
    rep = oci.probe(b)
    assert rep["pid"] == 1
    assert rep["hostname"] == "probe-host"
    assert rep["cwd"] == "/"
    for ns in ("mnt", "net", "pid", "uts", "ipc", "cgroup"):
        assert rep["ns"][ns] != os.readlink(f"/proc/self/ns/{ns}"), ns
    assert rep["ns"]["user"] == os.readlink("/proc/self/ns/user")
    assert rep["rlimits"]["RLIMIT_NOFILE"] == [1024, 1024]
    assert rep["NoNewPrivs"] == "1"
    # Only stdio crosses into the container.
    assert sorted(rep["fds"]) == ["0", "1", "2"]
    # The container's own /proc, and the rootfs at /.
    targets = [m["target"] for m in rep["mounts"]]
    assert targets[0] == "/" and "/proc" in targets and "/dev/pts" in targets


def test_run_propagates_exit_code(oci):
    b = oci.bundle(args=["/bin/sh", "-c", "exit 42"])
    cid = oci.new_id()
    p = oci.cmd("run", "--bundle", b, cid)
    assert p.returncode == 42, p.stderr
    assert cid not in oci.list_ids()


def test_create_start_state_kill_delete(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    pidfile = tmp_path / "init.pid"
    oci.ok("create", "--bundle", b, "--pid-file", pidfile, cid)
    pid = int(pidfile.read_text())
    st = oci.state(cid)
    assert st["status"] == "created" and st["pid"] == pid and st["id"] == cid
    assert st["bundle"] == str(b) and st["ociVersion"].startswith("1.")
    assert pid_alive(pid)
    # Still blocked before start: not running sleep yet.
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    oci.ok("start", cid)
    assert oci.state(cid)["status"] == "running"
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().startswith(b"/bin/sleep"):
                break
        time.sleep(0.01)
    oci.fails("start", cid, contains="it is running")
    oci.fails("delete", cid, contains="it is running")
    oci.ok("kill", cid, "KILL")
    wait_status(oci, cid, "stopped")
    oci.ok("delete", cid)
    assert cid not in oci.list_ids()
    assert not pid_alive(pid)
    oci.fails("state", cid, contains="does not exist")


def test_kill_by_number_and_name_forms(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    for sig in ("9", "SIGKILL", "kill"):
        cid = oci.new_id()
        oci.ok("run", "--detach", "--bundle", b, cid)
        oci.ok("kill", cid, sig)
        wait_status(oci, cid, "stopped")
        oci.ok("delete", cid)
    oci.fails("kill", oci.new_id(), "KILL", contains="does not exist")


def test_delete_created_container_kills_its_init(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, "--pid-file", tmp_path / "p", cid)
    pid = int((tmp_path / "p").read_text())
    oci.ok("delete", cid)
    assert not pid_alive(pid)


def test_delete_force_running(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, "--pid-file", tmp_path / "p", cid)
    pid = int((tmp_path / "p").read_text())
    oci.ok("delete", "--force", cid)
    assert not pid_alive(pid)
    assert cid not in oci.list_ids()


def test_exec_args_env_cwd_user_and_exit_code(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    rep = json.loads(oci.ok("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "65534:65534",
                            "--additional-gids", "5", cid, "/bin/berth-probe").stdout)
    assert rep["pid"] != 1 and rep["ppid"] == 0
    assert "FOO=bar" in rep["env"]
    assert rep["cwd"] == "/tmp"
    assert rep["uid"] == 65534 and rep["gid"] == 65534 and rep["groups"] == [5]
    init = json.loads(oci.ok("exec", cid, "/bin/berth-probe").stdout)
    assert rep["ns"] == init["ns"]
    assert sorted(rep["fds"]) == ["0", "1", "2"]
    assert oci.cmd("exec", cid, "/bin/sh", "-c", "exit 3").returncode == 3
    oci.fails("exec", cid, "no-such-program", contains='"no-such-program": executable file not found')


def test_exec_process_file_detach_and_pid_file(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    proc = {"args": ["/bin/sh", "-c", "echo detached > /tmp/out; sleep 100"], "cwd": "/",
            "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "proc.json").write_text(json.dumps(proc))
    oci.ok("exec", "--process", tmp_path / "proc.json", "--detach", "--pid-file", tmp_path / "x.pid", cid)
    xpid = int((tmp_path / "x.pid").read_text())
    assert pid_alive(xpid)
    deadline = time.time() + 5
    while not (b / "rootfs" / "tmp" / "out").exists() and time.time() < deadline:
        time.sleep(0.02)
    assert (b / "rootfs" / "tmp" / "out").read_text() == "detached\n"
    ps = json.loads(oci.ok("ps", "--format", "json", cid).stdout)
    assert oci.state(cid)["pid"] in ps
    oci.ok("delete", "--force", cid)


def test_run_forwards_signals(oci):
    b = oci.bundle(args=["/bin/sh", "-c", "trap 'exit 9' TERM; while true; do sleep 0.1; done"])
    cid = oci.new_id()
    p = subprocess.Popen([oci.bin, "--root", oci.root, "run", "--bundle", str(b), cid],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 5
    while time.time() < deadline:
        if cid in oci.list_ids() and oci.state(cid)["status"] == "running":
            break
        time.sleep(0.05)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 9
    assert cid not in oci.list_ids()


def test_list_formats(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    ids = [oci.new_id() for _ in range(2)]
    for cid in ids:
        oci.ok("run", "-d", "--bundle", b, cid)
    listed = {c["id"]: c for c in json.loads(oci.ok("list", "--format", "json").stdout)}
    assert set(ids) <= set(listed) and all(listed[i]["status"] == "running" for i in ids)
    table = oci.ok("list").stdout
    assert table.startswith("ID") and all(i in table for i in ids)
    assert sorted(oci.ok("list", "-q").stdout.split()) == sorted(ids)


def test_spec_writes_a_config_that_runs(oci, tmp_path):
    b = oci.bundle()
    os.unlink(b / "config.json")
    oci.ok("spec", "--bundle", b)
    cfg = json.loads((b / "config.json").read_text())
    assert cfg["ociVersion"] == "1.2.0" and cfg["root"]["path"] == "rootfs"
    assert all(lim["hard"] <= 20000 for lim in cfg["process"]["rlimits"])
    oci.fails("spec", "--bundle", b, contains="already exists")
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/berth-probe"]
    (b / "config.json").write_text(json.dumps(cfg))
    rep = oci.probe(b)
    assert rep["pid"] == 1 and rep["hostname"] == "berth"
    rl = tmp_path / "rootless"
    rl.mkdir()
    oci.ok("spec", "--rootless", "--bundle", rl)
    cfg = json.loads((rl / "config.json").read_text())
    assert {"type": "user"} in cfg["linux"]["namespaces"]
    assert cfg["linux"]["uidMappings"][0]["hostID"] == os.getuid()


def test_features_document(oci):
    f = json.loads(oci.ok("features").stdout)
    assert f["ociVersionMax"].startswith("1.")
    assert set(f["linux"]["namespaces"]) >= {"pid", "user", "cgroup", "time"}
    assert "poststop" in f["hooks"] and "rbind" in f["mountOptions"]


def test_concurrent_commands_on_one_id_are_serialised(oci):
    """Five starts race on one created container: exactly one wins, the others see it running."""
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, cid)
    procs = [subprocess.Popen([oci.bin, "--root", oci.root, "start", cid], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(5)]
    results = [(p.wait(timeout=30), p.stderr.read()) for p in procs]
    assert sum(1 for rc, _ in results if rc == 0) == 1, results
    assert all("it is running" in err for rc, err in results if rc != 0), results
    # Racing deletes: one removes it, the rest find nothing (with --force that is fine).
    procs = [subprocess.Popen([oci.bin, "--root", oci.root, "delete", "--force", cid], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    assert all(p.wait(timeout=30) == 0 for p in procs)
    assert cid not in oci.list_ids()


def test_no_monitor_process_stays_after_create(oci, tmp_path):
    """After create (and start) returns, the only process left is the container's init, whose
    parent is not a berth-oci process."""
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    # start returns once the init was told to go (as runc's): the init may still be the runtime's
    # code for a moment before it executes the container's program, so wait for that execve.
    deadline = time.monotonic() + 10
    while _is_berth_oci(str(pid), oci.root) and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().startswith(b"/bin/sleep")
    with open(f"/proc/{pid}/stat") as f:
        ppid = int(f.read().split(") ")[1].split()[1])
    with open(f"/proc/{ppid}/cmdline", "rb") as f:
        assert b"berth-oci" not in f.read()
    mine = [p for p in os.listdir("/proc") if p.isdigit() and _is_berth_oci(p, oci.root)]
    assert mine == [], mine


def _is_berth_oci(pid, root):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return b"berth-oci" in cmd and root.encode() in cmd


def test_exec_cap_and_no_new_privs(oci):
    cfg = default_config(["/bin/sleep", "1000"])
    cfg["process"]["noNewPrivileges"] = False
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    rep = json.loads(oci.ok("exec", cid, "/bin/berth-probe").stdout)
    assert not int(rep["CapEff"], 16) & (1 << 21) and rep["NoNewPrivs"] == "0"
    rep = json.loads(oci.ok("exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid, "/bin/berth-probe").stdout)
    assert int(rep["CapEff"], 16) & (1 << 21) and int(rep["CapAmb"], 16) & (1 << 21)
    assert rep["NoNewPrivs"] == "1"
    oci.fails("exec", "--cap", "CAP_BOGUS", cid, "/bin/true", contains="CAP_BOGUS")
