"""berth top and berth stats on real containers: the processes of a container's cgroup, and CPU,
memory and pids counters read from its cgroups (v1 on this machine; the v2 parsing is unit-tested
with fixture files in tests/unit/test-cgroup.c)."""
import json
import os
import time

import pytest

from conftest import berth, binary




@pytest.fixture
def env(busybox_env):
    return busybox_env


def stats(env, *names):
    return {s["name"]: s for s in json.loads(berth(env, "stats", "--no-stream", "--format", "json", *names).stdout)}


def test_top_lists_the_containers_processes(env):
    berth(env, "run", "-d", "--name", "toptest", "busybox", "sh", "-c", "sleep 1001 & sleep 1002 & wait")
    procs = []
    deadline = time.time() + 30  # the shell starts its children right after the start returns
    while time.time() < deadline:
        procs = json.loads(berth(env, "top", "--format", "json", "toptest").stdout)
        if len(procs) >= 3:
            break
        time.sleep(0.1)
    cmds = sorted(p["cmd"] for p in procs)
    assert cmds == ["sh -c sleep 1001 & sleep 1002 & wait", "sleep 1001", "sleep 1002"], cmds
    sh = next(p for p in procs if p["cmd"].startswith("sh"))
    for p in procs:
        assert p["user"] == "root" and p["uid"] == 0
        assert p["state"] in "SR"
        with open(f"/proc/{p['pid']}/cmdline", "rb") as f:  # host pids, really these processes
            assert f.read().replace(b"\0", b" ").strip().decode() == p["cmd"]
        if p is not sh:
            assert p["ppid"] == sh["pid"]
    text = berth(env, "top", "toptest").stdout.splitlines()
    assert text[0].split() == ["USER", "PID", "PPID", "STAT", "STIME", "TIME", "CMD"]
    assert len(text) == 4 and any(line.endswith("sleep 1002") for line in text)
    # ps options: the host's ps filtered to the container's pids
    text = berth(env, "top", "toptest", "-o", "pid,args").stdout.splitlines()
    assert text[0].split() == ["PID", "COMMAND"]
    assert sorted(line.split(None, 1)[1] for line in text[1:]) == cmds
    rows = json.loads(berth(env, "top", "--format", "json", "toptest", "-o", "pid,comm").stdout)
    assert sorted(r["COMMAND"] for r in rows) == ["sh", "sleep", "sleep"]
    assert {int(r["PID"]) for r in rows} == {p["pid"] for p in procs}
    p = berth(env, "top", "toptest", "-o", "comm", check=False)
    assert p.returncode == 1 and "PID column" in p.stderr
    p = berth(env, "top", "toptest", "--no-such-ps-option", check=False)
    assert p.returncode == 1 and "ps refused these options" in p.stderr


def test_stats_cpu_memory_pids_and_limits(env):
    berth(env, "run", "-d", "--name", "busy", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
    # a memory hog: 48 MiB kept in a shell variable, under a 200 MiB limit
    berth(env, "run", "-d", "--name", "hog", "--memory", "200m", "--pids-limit", "50", "busybox", "sh", "-c",
          "x=$(head -c 50331648 /dev/zero | tr '\\0' a); echo ready; sleep 1000; echo ${#x}")
    berth(env, "run", "-d", "--name", "many", "busybox", "sh", "-c", "for i in 1 2 3 4; do sleep 1000 & done; wait")
    # direct writes are charged to the container's cgroup (buffered writeback is not, on v1); v1
    # kernels count blkio.throttle bytes only for a cgroup with a throttle rule: set a huge one
    wid = berth(env, "run", "-d", "--name", "writer", "busybox", "sh", "-c",
                "while [ ! -e /go ]; do sleep 0.1; done; dd if=/dev/zero of=/data bs=1M count=8 oflag=direct "
                "&& echo written; sleep 1000").stdout.strip()
    blkio = f"/sys/fs/cgroup/blkio/berth/{wid}"
    if os.path.isdir(blkio):
        dev = os.stat(env["BERTH_ROOT"]).st_dev
        with open(f"{blkio}/blkio.throttle.write_bps_device", "w") as f:
            f.write(f"{os.major(dev)}:{os.minor(dev)} {1 << 40}")
    berth(env, "exec", "writer", "touch", "/go")
    deadline = time.time() + 60  # generous: the shared host may be loaded
    while time.time() < deadline:
        if "ready" in berth(env, "logs", "hog").stdout and "written" in berth(env, "logs", "writer").stdout:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the memory hog or the writer did not get ready in 60 s")
    s = stats(env)
    assert set(s) == {"busy", "hog", "many", "writer"}
    assert s["writer"]["block_write_bytes"] >= 8 << 20, s["writer"]
    assert s["hog"]["block_write_bytes"] < 1 << 20
    # --network none: loopback only, which is not counted
    assert s["busy"]["net_rx_bytes"] == 0 and s["busy"]["net_tx_bytes"] == 0
    # a busy loop shows CPU > 0 (loose lower bound: the shared host may be loaded), capped by --cpus 0.5
    assert 0.5 < s["busy"]["cpu_percent"] <= 60, s["busy"]
    assert s["busy"]["cpu_usage_ns"] > 0 and s["busy"]["pids_current"] == 1
    assert s["busy"]["memory_limit"] == 0  # unlimited, as in berth vm stats
    hog = s["hog"]
    assert hog["memory_limit"] == 200 << 20
    assert 48 << 20 <= hog["memory_usage"] < 200 << 20, hog
    assert abs(hog["memory_percent"] - 100.0 * hog["memory_usage"] / (200 << 20)) < 0.01
    assert hog["pids_limit"] == 50 and hog["pids_current"] == 2  # sh and sleep
    assert hog["cpu_percent"] < 5
    assert s["many"]["pids_current"] == 5 and s["many"]["pids_limit"] == 0
    for k in ("id", "state", "cpu_usage_ns", "memory_cache", "block_read_bytes"):
        assert k in hog
    # names select; text output without a tty is one table
    out = berth(env, "stats", "hog").stdout.splitlines()
    assert out[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%", "NET",
                              "I/O", "BLOCK", "I/O", "PIDS"] and len(out) == 2
    row = out[1].split()
    assert row[1] == "hog" and row[4] == "/" and row[5] == "200.00MiB", row


def test_stats_and_top_errors(env):
    berth(env, "create", "--name", "idle", "busybox", "true")
    berth(env, "run", "--name", "done", "busybox", "true")
    for verb in (["stats", "--no-stream"], ["top"]):
        p = berth(env, *verb, "no-such-container", check=False)
        assert p.returncode == 1 and "no-such-container" in p.stderr
        for name in ("idle", "done"):
            p = berth(env, *verb, name, check=False)
            assert p.returncode == 1 and f"container {name} is not running" in p.stderr, p.stderr
    p = berth(env, "stats", "--format", "yaml", check=False)
    assert p.returncode == 125 and "--format" in p.stderr
    p = berth(env, "top", check=False)
    assert p.returncode == 125
    # no running container: an empty list, not an error
    assert json.loads(berth(env, "stats", "--no-stream", "--format", "json").stdout) == []
    assert "Usage: berth stats" in berth(env, "stats", "--help").stdout
    assert "Usage: berth top" in berth(env, "top", "--help").stdout


def test_stats_streams_on_a_terminal(env):
    """On a tty the table refreshes until interrupted (docker stats' behaviour)."""
    import pty
    berth(env, "run", "-d", "--name", "streamed", "busybox", "sleep", "1000")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(binary("berth"), ["berth", "stats", "streamed"], env)
    out = b""
    deadline = time.time() + 30
    try:
        while out.count(b"CONTAINER ID") < 3 and time.time() < deadline:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    assert out.count(b"CONTAINER ID") >= 3 and b"streamed" in out
