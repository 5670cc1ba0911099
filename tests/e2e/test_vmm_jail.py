"""berth-vmm --jail: the VM runs in a child chrooted into an empty directory, in its own mount
namespace and cgroup, as an unprivileged uid/gid with seccomp filters on every thread; the
parent cleans up what the child cannot reach. Checked from /proc like an administrator would."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, binary

pytestmark = [pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the jail needs root")]


def status_fields(path):
    out = {}
    for line in open(path):
        k, _, v = line.partition(":")
        out[k] = v.split()
    return out


def test_jailed_vm_runs_confined_and_leaves_nothing(tmp_path):
    root = tmp_path / "jail"
    root.mkdir()
    api = str(tmp_path / "api.sock")
    hello = os.path.join(BUILD, "tests", "guests", "hello.pvh")
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", hello, "--cmdline", "spin=1", "--jail", str(root),
                          "--jail-uid", "65534", "--jail-gid", "65533", "--api-sock", api],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 15
        line = ""
        while "spinning" not in line and time.time() < deadline:
            line = p.stdout.readline()
        assert "spinning" in line
        children = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        assert len(children) == 1
        child = int(children[0])
        st = status_fields(f"/proc/{child}/status")
        assert st["Uid"] == ["65534"] * 4 and st["Gid"] == ["65533"] * 4
        assert st["Groups"] == []
        assert st["NoNewPrivs"] == ["1"] and st["CapEff"] == ["0000000000000000"]
        tasks = os.listdir(f"/proc/{child}/task")
        assert len(tasks) >= 2  # event loop + vCPU
        for t in tasks:
            assert status_fields(f"/proc/{child}/task/{t}/status")["Seccomp"] == ["2"], t
        assert os.readlink(f"/proc/{child}/root") == str(root)
        assert os.readlink(f"/proc/{child}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        cgroups = open(f"/proc/{child}/cgroup").read()
        assert f"berth-vmm/vm-{child}" in cgroups
        mem_cg = [l.split(":")[2] for l in cgroups.splitlines() if l.split(":")[1] == "memory"]
        if mem_cg:
            limit = int(open(f"/sys/fs/cgroup/memory{mem_cg[0]}/memory.limit_in_bytes").read())
            assert limit == (128 + 256) << 20
        # The control socket, opened before the jail, still answers.
        s = socket.socket(socket.AF_UNIX)
        s.connect(api)
        s.sendall(b'{"action":"status"}\n')
        assert json.loads(s.makefile().readline())["state"] == "running"
        s.close()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert not os.path.exists(api)
    assert f"berth-vmm/vm-{child}" not in open("/proc/self/cgroup").read()
    for ctl in ("memory", "cpu", "pids"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctl}/berth-vmm/vm-{child}")
    assert os.listdir(root) == []


def test_jail_bad_input(tmp_path):
    hello = os.path.join(BUILD, "tests", "guests", "hello.pvh")
    r = subprocess.run([binary("berth-vmm"), "--kernel", hello, "--jail", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--jail" in r.stderr and "not a directory" in r.stderr
    r = subprocess.run([binary("berth-vmm"), "--kernel", "/nonexistent", "--jail", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "kernel /nonexistent" in r.stderr
