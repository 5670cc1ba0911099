"""berth run and the container verbs, driven as a user would, on a busybox image imported from the
project-built rootfs. Each test removes every container it made and checks no mount is left."""
import concurrent.futures
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import berth, binary




@pytest.fixture
def env(busybox_env):
    return busybox_env


def inspect(env, name):
    return json.loads(berth(env, "inspect", name).stdout)[0]


def test_run_output_and_exit_codes(env):
    p = berth(env, "run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "to-out\n" and p.stderr == "to-err\n"
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []  # --rm removed it
    p = berth(env, "run", "--rm", "busybox", "no-such-command", check=False)
    assert p.returncode == 127 and "no-such-command" in p.stderr
    p = berth(env, "run", "--rm", "no-such-image", check=False)
    assert p.returncode == 125 and "not found" in p.stderr
    p = berth(env, "run", "--memory", "lots", "busybox", check=False)
    assert p.returncode == 125 and "--memory" in p.stderr
    p = berth(env, "run", "--restart", "sometimes", "busybox", "true", check=False)
    assert p.returncode == 125 and "--restart" in p.stderr
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_options_reach_the_container(env, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir(mode=0o755)
    vol.chmod(0o755)
    (vol / "shared").write_text("from-host\n")
    (vol / "shared").chmod(0o644)
    envfile = tmp_path / "env"
    envfile.write_text("# comment\nFROM_FILE=yes\n")
    script = ("echo env=$FOO/$FROM_FILE; cat /host/shared; touch /host/new 2>/dev/null || echo ro-volume;"
              "id -u; cat /proc/self/status | grep CapEff; pwd; hostname")
    p = berth(env, "run", "--rm", "-e", "FOO=bar", "--env-file", str(envfile), "-v", f"{vol}:/host:ro",
              "-u", "nobody", "-w", "/tmp", "--hostname", "box", "--cap-drop", "ALL", "busybox", "sh", "-c", script)
    lines = p.stdout.split("\n")
    assert lines[0] == "env=bar/yes"
    assert lines[1] == "from-host"
    assert lines[2] == "ro-volume"
    assert lines[3] == "65534"
    assert lines[4].split()[1] == "0000000000000000"
    assert lines[5] == "/tmp" and lines[6] == "box"
    assert not (vol / "new").exists()
    p = berth(env, "run", "--rm", "--read-only", "busybox", "touch", "/x", check=False)
    assert p.returncode == 1 and "Read-only file system" in p.stderr
    p = berth(env, "run", "--rm", "--memory", "64M", "--pids-limit", "20", "busybox", "sh", "-c",
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
              "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max")
    assert p.stdout.split() == [str(64 << 20), "20"]


def test_detached_lifecycle_and_monitor(env):
    cid = berth(env, "run", "-d", "--name", "svc", "busybox", "sh", "-c",
                "echo started; trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    info = inspect(env, "svc")
    assert info["state"] == "running"
    # The monitor is small: one per container, under 1 MiB resident.
    with open(f"/proc/{info['monitor_pid']}/status") as f:
        rss = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    assert rss < 1024, f"berth-monitor uses {rss} KiB"
    assert berth(env, "exec", "svc", "hostname").stdout.strip() == cid[:12]
    assert berth(env, "exec", "svc", "sh", "-c", "exit 4", check=False).returncode == 4
    p = berth(env, "run", "--name", "svc", "busybox", "true", check=False)
    assert p.returncode == 125 and "already in use" in p.stderr
    p = berth(env, "rm", "svc", check=False)
    assert p.returncode != 0 and "stop it first or use -f" in p.stderr
    berth(env, "pause", "svc")
    assert inspect(env, "svc")["state"] == "paused"
    berth(env, "unpause", "svc")
    assert berth(env, "ps", "--format", "json").stdout.count('"svc"') == 1
    berth(env, "stop", "svc")
    info = inspect(env, "svc")
    assert info["state"] == "exited" and info["exit_code"] == 0
    assert berth(env, "logs", "svc").stdout == "started\ngot-term\n"
    assert berth(env, "logs", "--tail", "1", "svc").stdout == "got-term\n"
    assert "Z started" in berth(env, "logs", "-t", "svc").stdout
    # Start again: same container, same writable layer.
    berth(env, "start", "svc")
    berth(env, "exec", "svc", "sh", "-c", "echo kept > /data")
    berth(env, "restart", "--time", "1", "svc")
    assert berth(env, "exec", "svc", "cat", "/data").stdout == "kept\n"
    berth(env, "rm", "-f", "svc")
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_exit_recorded_without_berth_and_restart_policy(env):
    berth(env, "run", "-d", "--name", "quick", "busybox", "sh", "-c", "exit 9")
    berth(env, "run", "-d", "--name", "flaky", "--restart", "on-failure", "busybox", "sh", "-c",
          "echo run >> /count; [ $(wc -l < /count) -ge 3 ]")
    time.sleep(3)
    # No berth command ran meanwhile: the monitor recorded the exit itself.
    exit_file = os.path.join(env["BERTH_ROOT"], "containers", inspect(env, "quick")["id"], "exit.json")
    assert json.load(open(exit_file))["exit_code"] == 9
    assert berth(env, "wait", "quick").stdout.strip() == "9"
    flaky = inspect(env, "flaky")
    assert flaky["state"] == "exited" and flaky["exit_code"] == 0 and flaky["restarts"] == 2
    assert berth(env, "container", "prune").returncode == 0
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_parallel_runs_with_one_name(env):
    def run(_):
        return berth(env, "run", "-d", "--name", "only", "busybox", "sleep", "30", check=False)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(run, range(4)))
    assert sorted(r.returncode for r in results) == [0, 125, 125, 125]
    assert all("already in use" in r.stderr for r in results if r.returncode)
    assert len(json.loads(berth(env, "ps", "-a", "--format", "json").stdout)) == 1
    berth(env, "rm", "-f", "only")


def test_killed_berth_run_leaves_a_recoverable_container(env):
    p = subprocess.Popen([binary("berth"), "run", "--name", "orphan", "busybox", "sh", "-c", "sleep 2; echo done"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert berth(env, "wait", "orphan").stdout.strip() == "0"
    assert berth(env, "logs", "orphan").stdout == "done\n"
    berth(env, "rm", "orphan")
    assert not os.path.exists(os.path.join(env["BERTH_ROOT"], "containers", "orphan"))


def test_ps_all_kinds_lists_containers_and_vms(env):
    if not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]:
        pytest.skip("no guest kernel installed")
    berth(env, "run", "-d", "--name", "ctr-a", "busybox", "sleep", "60")
    berth(env, "vm", "create", "vm-a", "--image", "busybox", "--", "/bin/true")
    rows = json.loads(berth(env, "ps", "-a", "--all-kinds", "--format", "json").stdout)
    assert {(r["kind"], r["name"]) for r in rows} == {("container", "ctr-a"), ("vm", "vm-a")}
    text = berth(env, "ps", "-a", "--all-kinds").stdout.splitlines()
    assert text[0].split()[:2] == ["KIND", "ID"]
    assert any(l.startswith("vm ") and l.endswith("vm-a") for l in text)
    berth(env, "vm", "rm", "vm-a")
    berth(env, "rm", "-f", "ctr-a")


def test_late_end_of_a_run_leaves_the_next_run_alone(env):
    """The monitor's on-exit handler records a run's end and releases its rootfs, network and
    runtime state. When it is slow (here: strace holds its umount2 for 1.5 s) and a `berth start`
    comes meanwhile, the start waits for it, and the new run keeps its rootfs and its record.
    Before the containers' lifecycle lock, the late handler unmounted the new run's rootfs and
    recorded it as exited while it ran."""
    cid = berth(env, "run", "-d", "--name", "late", "busybox", "sleep", "1000").stdout.strip()
    monitor = inspect(env, cid)["monitor_pid"]
    tracer = subprocess.Popen(["strace", "-f", "-p", str(monitor), "-e", "trace=umount2",
                               "-e", "inject=umount2:delay_enter=1500000", "-o", "/dev/null"],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert "attached" in tracer.stderr.readline()
        berth(env, "kill", cid)
        # the monitor became the on-exit handler (same pid): wait until it sits in umount2 (166)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{monitor}/syscall") as f:
                if f.read().split(" ", 1)[0] == "166":
                    break
            time.sleep(0.02)
        else:
            raise AssertionError("the on-exit handler never reached umount2")
        berth(env, "start", cid)
        tracer.wait(timeout=30)
        assert inspect(env, cid)["state"] == "running"
        assert berth(env, "exec", cid, "cat", "/proc/1/cmdline").stdout == "sleep\x001000\x00"
        berth(env, "rm", "-f", cid)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()


def test_inspect_takes_format_json(env):
    cid = berth(env, "create", "--name", "fmt", "busybox", "true").stdout.strip()
    plain = json.loads(berth(env, "inspect", "fmt").stdout)
    assert json.loads(berth(env, "inspect", "--format", "json", "fmt").stdout) == plain
    assert json.loads(berth(env, "inspect", "--format=json", cid).stdout) == plain
    p = berth(env, "inspect", "--format", "{{.State}}", "fmt", check=False)
    assert p.returncode == 125 and "only json" in p.stderr and p.stdout == ""
    berth(env, "rm", cid)


def test_start_racing_rm_f(env):
    """`berth start` and `berth rm -f` of the same container at once: rm always succeeds (killing the
    run if the start came first), the start either ran first or says the container is gone, and
    nothing is left. Before the lifecycle lock, one race in five left a half-removed container
    ("Directory not empty") and a failed mount."""
    for i in range(15):
        cid = berth(env, "create", "--name", f"race{i}", "busybox", "sleep", "4321").stdout.strip()
        start = subprocess.Popen([binary("berth"), "start", cid], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        rm = berth(env, "rm", "-f", cid, check=False)
        out, errs = start.communicate(timeout=60)
        assert rm.returncode == 0, rm.stderr
        assert start.returncode == 0 or "no longer exists" in errs or "no such container" in errs, errs
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []
    assert os.listdir(os.path.join(env["BERTH_ROOT"], "containers")) == []
    assert subprocess.run(["pgrep", "-x", "-f", "sleep 4321"], capture_output=True).returncode != 0
