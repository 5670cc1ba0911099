"""Shared fixtures for berth's end-to-end tests: paths to the built binaries, a private BERTH_ROOT
and BERTH_RUNTIME_DIR per test, and the busybox rootfs the project builds from busybox-static."""
import json
import os
import select
import shutil
import subprocess
import tempfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BERTH_BUILD", os.path.join(TOP, "build"))


def binary(name):
    path = os.path.join(BUILD, "src", name, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (run scripts/build.sh)")
    return path


def read_pty(master, idle):
    """What a pty's master gives until EOF, an error (EIO once the slave side is closed) or idle
    seconds without output."""
    out = b""
    while select.select([master], [], [], idle)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def berth(env, *args, check=True, input=None, timeout=120):
    """Runs the berth CLI like a user; with check, a failure raises with berth's own message."""
    p = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, input=input,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


@pytest.fixture
def berth_env(tmp_path):
    """Environment with a private state root and runtime dir, removed afterwards. Its berth.conf
    makes `none` the default network: tests run containers and VMs on the host's own network
    namespace, where berth must create no bridge; the network tests (inside a private netns) name
    the network, or write their own berth.conf where the default itself is tested."""
    root = tmp_path / "root"
    run = tmp_path / "run"
    root.mkdir()
    run.mkdir()
    (root / "berth.conf").write_text("[network]\ndefault_network = none\n")
    env = dict(os.environ, BERTH_ROOT=str(root), BERTH_RUNTIME_DIR=str(run))
    yield env


@pytest.fixture
def busybox_env(berth_env, busybox_rootfs):
    """berth_env with the busybox rootfs imported as image `busybox`. Afterwards every container
    left is removed by id, and no mount under the root may remain."""
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox")
    yield berth_env
    for c in json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout):
        berth(berth_env, "rm", "-f", c["id"], check=False)
    with open("/proc/self/mountinfo") as f:
        assert berth_env["BERTH_ROOT"] not in f.read()


@pytest.fixture(scope="session")
def busybox_rootfs():
    """A busybox root filesystem built once per test session (read-only use: copy it to modify)."""
    d = tempfile.mkdtemp(prefix="berth-e2e-rootfs-")
    rootfs = os.path.join(d, "rootfs")
    subprocess.run([os.path.join(TOP, "scripts/make-busybox-rootfs.sh"), rootfs], check=True)
    yield rootfs
    shutil.rmtree(d, ignore_errors=True)
