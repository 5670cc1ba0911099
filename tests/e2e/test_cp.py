"""berth cp between the host and containers, running and stopped; paths stay inside the rootfs."""
import json
import os

import pytest

from test_build import berth, no_leftovers


@pytest.fixture
def env(berth_env, busybox_rootfs):
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    yield berth_env
    for c in json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout):
        berth(berth_env, "rm", "-f", c["id"], check=False)
    no_leftovers(berth_env)


def test_cp_both_ways_running_and_stopped(env, tmp_path):
    host = tmp_path / "host"
    (host / "d" / "e").mkdir(parents=True)
    (host / "f.txt").write_text("hosty\n")
    (host / "d" / "e" / "x").write_text("deep\n")
    os.symlink("f.txt", host / "l")
    name = f"cp-{os.getpid()}"
    berth(env, "run", "-d", "--name", name, "busybox", "sleep", "60")
    berth(env, "cp", str(host / "f.txt"), f"{name}:/tmp/")
    berth(env, "cp", str(host / "d"), f"{name}:/tmp/dd")
    berth(env, "cp", str(host / "l"), f"{name}:/tmp/l")
    p = berth(env, "exec", name, "sh", "-c", "cat /tmp/f.txt /tmp/dd/e/x; readlink /tmp/l")
    assert p.stdout == "hosty\ndeep\nf.txt\n"
    out = tmp_path / "out"
    out.mkdir()
    berth(env, "cp", f"{name}:/etc/passwd", str(out))
    berth(env, "cp", f"{name}:/tmp/dd", str(out / "dd2"))
    assert (out / "passwd").read_text().startswith("root:")
    assert (out / "dd2" / "e" / "x").read_text() == "deep\n"
    # Stopped: the overlay is mounted for the copy only.
    berth(env, "stop", "-t", "1", name)
    berth(env, "cp", str(host / "f.txt"), f"{name}:/stopped.txt")
    berth(env, "cp", f"{name}:/tmp/f.txt", str(out / "after"))
    assert (out / "after").read_text() == "hosty\n"
    with open("/proc/self/mountinfo") as f:
        assert env["BERTH_ROOT"] not in f.read()
    berth(env, "start", name)
    assert berth(env, "exec", name, "cat", "/stopped.txt").stdout == "hosty\n"
    berth(env, "rm", "-f", name)


def test_cp_errors(env, tmp_path):
    assert "Usage: berth cp" in berth(env, "cp", "--help").stdout
    name = f"cperr-{os.getpid()}"
    berth(env, "create", "--name", name, "busybox", "true")
    p = berth(env, "cp", f"{name}:/no/such", str(tmp_path), check=False)
    assert p.returncode == 1 and f"container {name}: no such file or directory '/no/such'" in p.stderr
    # ".." cannot leave the container's root: this is the container's /etc/passwd, not the host's.
    berth(env, "cp", f"{name}:../../../../../etc/passwd", str(tmp_path / "pw"))
    assert (tmp_path / "pw").read_text().count("\n") == 2
    p = berth(env, "cp", str(tmp_path / "missing"), f"{name}:/x", check=False)
    assert p.returncode == 1 and "missing" in p.stderr
    p = berth(env, "cp", "a", "b", check=False)
    assert p.returncode == 125 and "exactly one" in p.stderr
    p = berth(env, "cp", "nosuchctr:/x", str(tmp_path), check=False)
    assert p.returncode == 1 and "nosuchctr" in p.stderr
    berth(env, "rm", name)
