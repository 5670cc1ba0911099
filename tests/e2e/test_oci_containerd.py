"""berth-oci driven by a real peer: Debian's containerd, started by the test with its own root,
state and socket (CRI and the snapshotters that need special filesystems disabled), through its
runc shim v2 with `ctr run --runc-binary <berth-oci>`, on an image the test builds with umoci from
the busybox rootfs and imports as an OCI archive. The ctr namespace is unique per run, and since
containerd names cgroups /<namespace>/<id>, the test removes exactly its own cgroups."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import binary
from reaper import reap_all, set_subreaper

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
UMOCI = shutil.which("umoci")
pytestmark = pytest.mark.skipif(not (CONTAINERD and CTR and UMOCI) or os.geteuid() != 0,
                                reason="needs root, containerd, ctr and umoci")

CONFIG = """version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.internal.v1.opt"]
[grpc]
  address = "{tmp}/containerd.sock"
[ttrpc]
  address = "{tmp}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""

IMAGE = "localhost/berth-busybox:latest"


def make_oci_archive(tmp, rootfs):
    """An OCI image layout (one layer: the busybox rootfs) tarred as containerd imports it."""
    layout, bundle = os.path.join(tmp, "layout"), os.path.join(tmp, "umoci-bundle")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run(UMOCI, "init", "--layout", layout)
    run(UMOCI, "new", "--image", layout + ":latest")
    run(UMOCI, "unpack", "--image", layout + ":latest", bundle)
    run("cp", "-a", rootfs + "/.", os.path.join(bundle, "rootfs") + "/")
    run(UMOCI, "repack", "--image", layout + ":latest", bundle)
    run(UMOCI, "config", "--image", layout + ":latest", "--config.cmd", "/bin/sh")
    archive = os.path.join(tmp, "busybox-oci.tar")
    run("tar", "-C", layout, "-cf", archive, ".")
    shutil.rmtree(bundle)
    return archive


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def processes_mentioning(needle):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if needle.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


class Containerd:
    def __init__(self, tmp, rootfs):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "containerd.sock")
        self.ns = f"berth-e2e-{uuid.uuid4().hex[:8]}"
        self.runtime = binary("berth-oci")
        conf = os.path.join(tmp, "config.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(tmp=tmp))
        self.log = open(os.path.join(tmp, "containerd.log"), "w")
        self.proc = subprocess.Popen([CONTAINERD, "--config", conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if not wait_for(lambda: self.ctr("version").returncode == 0, timeout=20):
            raise AssertionError("containerd did not come up: " + open(self.log.name).read()[-2000:])
        archive = make_oci_archive(tmp, rootfs)
        p = self.ctr("images", "import", "--snapshotter", "native", "--base-name", IMAGE.rsplit(":", 1)[0], archive)
        assert p.returncode == 0, p.stderr

    def ctr(self, *args, timeout=60):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Files, not pipes: a detached task's stdio must not hold our reads open.
            p = subprocess.run([CTR, "-a", self.sock, "-n", self.ns, *args], stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    def run(self, cid, *cmd, detach=False):
        return self.ctr("run", *(["-d"] if detach else []), "--snapshotter", "native", "--runc-binary",
                        self.runtime, IMAGE, cid, *cmd)

    def task_status(self, cid):
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[2]
        return None

    def cleanup(self):
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            cid = line.split()[0]
            self.ctr("task", "kill", "-s", "SIGKILL", cid)
            wait_for(lambda: self.task_status(cid) in ("STOPPED", None))
            self.ctr("task", "delete", "-f", cid)
        for line in self.ctr("containers", "ls", "-q").stdout.split():
            self.ctr("containers", "delete", line)
        self.ctr("images", "rm", IMAGE)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # Shims of this containerd (by our socket path) exit with their last task; make sure.
        for pid in processes_mentioning(self.sock):
            os.kill(pid, signal.SIGKILL)
        reap_all()
        self.log.close()
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.ns)
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for p in sorted((p for p in points if p.startswith(self.tmp + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True)


@pytest.fixture(scope="module")
def containerd(busybox_rootfs):
    tmp = tempfile.mkdtemp(prefix="berth-e2e-ctrd-")
    cd = None
    set_subreaper(True)  # shims double-fork: reap them ourselves
    try:
        cd = Containerd(tmp, busybox_rootfs)
        yield cd
    finally:
        if cd:
            cd.cleanup()
        reap_all(timeout=1)
        set_subreaper(False)
        shutil.rmtree(tmp, ignore_errors=True)


def cgroup_of(pid, controller="memory"):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"))
    return None


def test_run_propagates_output_and_exit_code(containerd):
    cid = f"run-{uuid.uuid4().hex[:6]}"
    p = containerd.run(cid, "/bin/sh", "-c", "echo hello-from-berth; grep -c . /proc/self/cgroup >/dev/null; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == "hello-from-berth"
    assert containerd.ctr("containers", "delete", cid).returncode == 0
    assert not os.path.isdir(f"/sys/fs/cgroup/memory/{containerd.ns}/{cid}")


def test_detached_exec_kill_delete(containerd):
    cid = f"det-{uuid.uuid4().hex[:6]}"
    p = containerd.run(cid, "/bin/sleep", "600", detach=True)
    assert p.returncode == 0, p.stderr
    assert wait_for(lambda: containerd.task_status(cid) == "RUNNING")
    pid = int(containerd.ctr("task", "ls").stdout.split(cid)[1].split()[0])
    cg = cgroup_of(pid)
    assert cg and cg.endswith(f"/{containerd.ns}/{cid}"), cg

    p = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "/bin/sh", "-c", "echo from-exec $$; exit 4")
    assert p.returncode == 4, p.stderr
    assert p.stdout.startswith("from-exec ")

    p = containerd.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert p.returncode == 0, p.stderr
    assert wait_for(lambda: containerd.task_status(cid) == "STOPPED")
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    p = containerd.ctr("task", "delete", cid)
    assert p.returncode == 0, p.stderr
    assert containerd.task_status(cid) is None
    assert containerd.ctr("containers", "delete", cid).returncode == 0
    assert not os.path.isdir(cg), "the task's cgroup is removed on delete"


def test_pause_resume(containerd):
    cid = f"pau-{uuid.uuid4().hex[:6]}"
    assert containerd.run(cid, "/bin/sleep", "600", detach=True).returncode == 0
    assert wait_for(lambda: containerd.task_status(cid) == "RUNNING")
    p = containerd.ctr("task", "pause", cid)
    assert p.returncode == 0, p.stderr
    assert containerd.task_status(cid) == "PAUSED"
    p = containerd.ctr("task", "resume", cid)
    assert p.returncode == 0, p.stderr
    assert containerd.task_status(cid) == "RUNNING"
    containerd.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert wait_for(lambda: containerd.task_status(cid) == "STOPPED")
    assert containerd.ctr("task", "delete", cid).returncode == 0
    assert containerd.ctr("containers", "delete", cid).returncode == 0
