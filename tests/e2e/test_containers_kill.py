"""kill -9 of berth processes at many moments (issue: "kill -9 of any berth process at any moment
leaves nothing the next command cannot recover or clean"): `berth run -d`, `berth rm -f`,
`berth stop` and the per-container berth-monitor are SIGKILLed after a spread of delays; then the
state database still answers, every container it lists can be removed, and no mount, cgroup or
process of any of them is left."""
import glob
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import berth, binary

# Delays (ms) spread over the whole life of each command here: the early ones land in argument and
# image lookup, the middle ones in row insertion, overlay mount and runtime create, the late ones
# after the monitor took over.
DELAYS_MS = [0, 3, 8, 15, 25, 40, 60, 90, 130, 200, 300]
CGROUP_ROOTS = ["/sys/fs/cgroup/memory/berth", "/sys/fs/cgroup/pids/berth", "/sys/fs/cgroup/cpu/berth",
                "/sys/fs/cgroup/unified/berth", "/sys/fs/cgroup/berth"]




def killed_after(env, delay_ms, *args):
    p = subprocess.Popen([binary("berth"), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay_ms / 1000)
    p.send_signal(signal.SIGKILL)
    p.wait()


def listed(env):
    return json.loads(berth(env, "ps", "-a", "--format", "json").stdout)


def processes_in(ids):
    """Pids whose cgroup names one of the containers."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cgroup"):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if any(f"/berth/{i}" in text for i in ids):
            found.append(path.split("/")[2])
    return found


@pytest.fixture
def env(berth_env, busybox_rootfs):
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    seen = set()
    yield berth_env, seen
    for c in listed(berth_env):
        berth(berth_env, "rm", "-f", c["id"], check=False)
        seen.add(c["id"])
    for pid in processes_in(seen):
        os.kill(int(pid), signal.SIGKILL)


def test_kill9_at_any_moment_leaves_nothing_unrecoverable(env):
    env, seen = env
    # 1. berth run -d killed while it creates and starts.
    for i, d in enumerate(DELAYS_MS):
        killed_after(env, d, "run", "-d", "--name", f"run{i}", "busybox", "sleep", "300")
        seen.update(c["id"] for c in listed(env))
    # 2. berth rm -f and berth stop killed while they work on running containers.
    for i, d in enumerate(DELAYS_MS[:6]):
        berth(env, "run", "-d", "--name", f"rm{i}", "busybox", "sleep", "300")
        berth(env, "run", "-d", "--name", f"stop{i}", "busybox", "sleep", "300")
        seen.update(c["id"] for c in listed(env))
        killed_after(env, d * 4, "rm", "-f", f"rm{i}")
        killed_after(env, d * 4, "stop", "--time", "1", f"stop{i}")
    # 3. The monitor of a running container killed: the container outlives it, berth still removes it.
    berth(env, "run", "-d", "--name", "orphaned", "busybox", "sleep", "300")
    monitor = json.loads(berth(env, "inspect", "orphaned").stdout)[0]["monitor_pid"]
    assert monitor > 0
    os.kill(monitor, signal.SIGKILL)
    seen.update(c["id"] for c in listed(env))

    # The database answers and every row is whole: each listed container inspects.
    containers = listed(env)
    for c in containers:
        info = json.loads(berth(env, "inspect", c["id"]).stdout)[0]
        assert info["id"] == c["id"] and info["state"] in ("created", "running", "exited", "stopped", "paused"), info
    # Everything listed can be removed, by id.
    for c in containers:
        p = berth(env, "rm", "-f", c["id"], check=False)
        assert p.returncode == 0 or "no such container" in p.stderr, p.stderr
    assert listed(env) == []

    # Nothing of any of them is left: no mount under the root, no cgroup, no process.
    root = env["BERTH_ROOT"]
    with open("/proc/self/mountinfo") as f:
        assert root not in f.read()
    leftover_cgroups = [d for base in CGROUP_ROOTS for i in seen if os.path.exists(os.path.join(base, i))]
    assert leftover_cgroups == []
    deadline = time.monotonic() + 10
    while processes_in(seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(seen) == []
    assert os.listdir(os.path.join(root, "containers")) == []

    # And the next commands work as on a fresh root.
    p = berth(env, "run", "--rm", "--name", "run0", "busybox", "echo", "recovered")
    assert p.stdout == "recovered\n"
    assert listed(env) == []
