"""Shared fixtures for berth's end-to-end tests: paths to the built binaries, a private BERTH_ROOT
and BERTH_RUNTIME_DIR per test, and the busybox rootfs the project builds from busybox-static."""
import os
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


@pytest.fixture(scope="session")
def busybox_rootfs():
    """A busybox root filesystem built once per test session (read-only use: copy it to modify)."""
    d = tempfile.mkdtemp(prefix="berth-e2e-rootfs-")
    rootfs = os.path.join(d, "rootfs")
    subprocess.run([os.path.join(TOP, "scripts/make-busybox-rootfs.sh"), rootfs], check=True)
    yield rootfs
    shutil.rmtree(d, ignore_errors=True)
