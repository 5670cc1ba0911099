"""berth-oci driven by a real peer: Debian's podman with `--runtime <berth-oci>` and `--rootfs` of
the busybox rootfs. podman runs with a private storage root, run root, tmp dir and containers.conf
(CONTAINERS_CONF), so nothing touches the machine's podman state, and with a cgroup parent of its
own that is removed at the end. The containers.conf lowers podman's default rlimits: root here
lacks CAP_SYS_RESOURCE (hard nofile 20000), so podman's defaults (nofile/nproc 1048576) are refused."""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import binary
from reaper import reap_all, set_subreaper

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(not PODMAN or os.geteuid() != 0, reason="needs root and podman")

CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{tmp}/libpod-tmp"
"""


def remove_cgroup_tree(rel):
    """Kills what is left in cgroup `rel` (every v1 hierarchy and the unified one) and removes it."""
    for ctrl in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", ctrl, rel.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in os.walk(top):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            for _ in range(100):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def umount_below(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


class Podman:
    def __init__(self, tmp, rootfs_src):
        self.tmp = tmp
        self.rootfs = os.path.join(tmp, "rootfs")
        # podman creates mount points (/etc/hosts, /run/.containerenv) in a --rootfs: use a copy.
        subprocess.run(["cp", "-a", rootfs_src, self.rootfs], check=True)
        with open(os.path.join(self.rootfs, "tmp", "berth-seed"), "w") as f:
            f.write("seeded\n")
        os.makedirs(os.path.join(tmp, "libpod-tmp"))
        conf = os.path.join(tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(tmp=tmp))
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.env.pop("CONTAINERS_STORAGE_CONF", None)
        self.runtime = binary("berth-oci")
        self.cgroup_parent = f"/berth-e2e-podman-{uuid.uuid4().hex[:8]}"
        self.base = [PODMAN, "--root", os.path.join(tmp, "storage"), "--runroot", os.path.join(tmp, "runroot"),
                     "--storage-driver", "vfs", "--runtime", self.runtime, "--cgroup-manager", "cgroupfs"]

    def argv(self, *args):
        return self.base + list(args)

    def run_args(self, *opts):
        """`podman run` options common to every container here (no network devices on the host)."""
        return ["run", "--network", "none", "--cgroup-parent", self.cgroup_parent, *opts]

    def __call__(self, *args, timeout=60, check=False):
        # cwd: conmon writes an "oom" marker file into its working directory after an OOM kill.
        p = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.tmp,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def container(self, *opts, cmd):
        """A detached container; returns its id."""
        p = self(*self.run_args("-d", *opts, "--rootfs", self.rootfs), *cmd, check=True)
        return p.stdout.strip().splitlines()[-1]

    def inspect(self, cid, fmt):
        return self("inspect", "-f", fmt, cid, check=True).stdout.strip()

    def cleanup(self):
        self("rm", "-a", "-f", "-t", "0")
        # conmon processes exit with their containers; reap them (we are their subreaper) so
        # that no zombie keeps the cgroup parent busy.
        reap_all()
        remove_cgroup_tree(self.cgroup_parent)
        umount_below(self.tmp)


@pytest.fixture(scope="module")
def podman(busybox_rootfs):
    tmp = tempfile.mkdtemp(prefix="berth-e2e-podman-")
    set_subreaper(True)
    try:
        pm = Podman(tmp, busybox_rootfs)
        yield pm
        pm.cleanup()
    finally:
        reap_all(timeout=1)
        set_subreaper(False)
        shutil.rmtree(tmp, ignore_errors=True)


def host_cgroup_dir(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"))
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def test_exit_code_and_output_propagate(podman):
    p = podman(*podman.run_args("--rm", "--rootfs", podman.rootfs), "/bin/sh", "-c", "echo out-$((6*7)); exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == "out-42"
    p = podman(*podman.run_args("--rm", "--rootfs", podman.rootfs), "/bin/true")
    assert p.returncode == 0, p.stderr


def test_interactive_terminal(podman):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(PODMAN, podman.argv(*podman.run_args("--rm", "-it", "--rootfs", podman.rootfs), "/bin/sh"),
                  podman.env)
    out = b""
    try:
        os.write(fd, b"tty; echo answer-$((6*7)); exit 7\n")
        end = time.time() + 30
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 7, text
    assert "/dev/pts/0" in text, text
    assert "answer-42" in text, text


def test_memory_pids_cpu_limits(podman):
    p = podman(*podman.run_args("--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5",
                                "--rootfs", podman.rootfs), "/bin/sh", "-c",
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
               "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["67108864", "50", "50000", "100000"]


def test_memory_limit_is_enforced(podman):
    # awk doubles a string until it holds 128 MB, against a 32 MB limit without swap: the kernel's
    # OOM killer must stop it (SIGKILL: status 137), while the shell around it carries on.
    p = podman(*podman.run_args("--rm", "--memory", "32m", "--memory-swap", "32m", "--rootfs", podman.rootfs),
               "/bin/sh", "-c", "awk 'BEGIN { s = \"x\"; while (length(s) < 134217728) s = s s; print \"grew\" }';"
               " echo awk=$?")
    assert p.returncode == 0, p.stderr
    assert "grew" not in p.stdout and "awk=137" in p.stdout, p.stdout


def test_cap_drop_and_add(podman):
    p = podman(*podman.run_args("--rm", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "--rootfs",
                                podman.rootfs), "/bin/grep", "^Cap", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    caps = dict(line.split(":\t") for line in p.stdout.splitlines())
    assert int(caps["CapEff"], 16) == 1 << 10
    assert int(caps["CapBnd"], 16) == 1 << 10
    p = podman(*podman.run_args("--rm", "--rootfs", podman.rootfs), "/bin/grep", "^CapBnd", "/proc/self/status")
    bnd = int(p.stdout.split()[1], 16)
    assert bnd & (1 << 0) and not bnd & (1 << 21), f"default set has CAP_CHOWN, not CAP_SYS_ADMIN: {bnd:x}"


def test_read_only_rootfs(podman):
    p = podman(*podman.run_args("--rm", "--read-only", "--read-only-tmpfs=false", "--rootfs", podman.rootfs),
               "/bin/sh", "-c", "touch /should-fail && echo wrote; grep ' / ' /proc/mounts")
    assert p.returncode == 0, p.stderr
    assert "wrote" not in p.stdout
    assert " ro," in p.stdout or " ro " in p.stdout, p.stdout
    # podman's default --read-only-tmpfs puts tmpfs mounts with "tmpcopyup" on /tmp, /var/tmp and
    # /run: writable, and seeded with what the image had there.
    p = podman(*podman.run_args("--rm", "--read-only", "--rootfs", podman.rootfs), "/bin/sh", "-c",
               "touch /should-fail 2>/dev/null && echo wrote-root; cat /tmp/berth-seed; touch /tmp/x && echo tmp-ok;"
               " grep ' /tmp ' /proc/mounts")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["seeded", "tmp-ok"], p.stdout
    assert lines[2].split()[2] == "tmpfs", p.stdout


def test_user(podman):
    p = podman(*podman.run_args("--rm", "--user", "65534:65534", "--rootfs", podman.rootfs), "/bin/sh", "-c",
               "id -u; id -g; grep ^CapEff /proc/self/status")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[0] == "65534" and lines[1] == "65534"
    assert int(lines[2].split()[1], 16) == 0


def test_default_and_custom_seccomp(podman):
    p = podman(*podman.run_args("--rm", "--rootfs", podman.rootfs), "/bin/grep", "^Seccomp:", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[1] == "2", "podman's default profile is loaded in filter mode"
    p = podman(*podman.run_args("--rm", "--security-opt", "seccomp=unconfined", "--rootfs", podman.rootfs),
               "/bin/grep", "^Seccomp:", "/proc/self/status")
    assert p.stdout.split()[1] == "0"
    # A custom profile reaches the kernel as written: mkdir fails with errnoRet 28 (ENOSPC).
    prof = os.path.join(podman.tmp, "mkdir-enospc.json")
    with open(prof, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]}, f)
    p = podman(*podman.run_args("--rm", "--security-opt", f"seccomp={prof}", "--rootfs", podman.rootfs),
               "/bin/sh", "-c", "mkdir /tmp/x-$$ 2>&1; echo rc=$?")
    assert "No space left on device" in p.stdout, (p.stdout, p.stderr)


def test_exec_into_detached(podman):
    cid = podman.container(cmd=["/bin/sleep", "600"])
    try:
        p = podman("exec", cid, "/bin/sh", "-c", "echo exec-$((2+3)); exit 5")
        assert p.returncode == 5, p.stderr
        assert p.stdout.strip() == "exec-5"
        p = podman("exec", "--user", "65534", cid, "/usr/bin/id", "-u")
        assert p.stdout.strip() == "65534", p.stderr
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_stop_then_rm_and_rm_force(podman):
    cid = podman.container(cmd=["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"])
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    mem = host_cgroup_dir(pid, "memory")
    assert os.path.isdir(mem)
    t = time.time()
    p = podman("stop", "-t", "10", cid)
    assert p.returncode == 0, p.stderr
    assert time.time() - t < 8, "SIGTERM reached the container's init"
    assert podman.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"
    assert podman("rm", cid).returncode == 0
    assert not os.path.exists(f"/proc/{pid}/stat") or open(f"/proc/{pid}/stat").read().split()[2] in "ZX"
    assert not os.path.isdir(mem), "the container's cgroup is removed"

    cid = podman.container(cmd=["/bin/sleep", "600"])
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    mem = host_cgroup_dir(pid, "memory")
    p = podman("rm", "-f", "-t", "0", cid)
    assert p.returncode == 0, p.stderr
    assert podman("ps", "-a", "-q", "--filter", f"id={cid}").stdout.strip() == ""
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")
    assert not os.path.isdir(mem)


def test_pause_unpause(podman):
    cid = podman.container(cmd=["/bin/sleep", "600"])
    try:
        pid = int(podman.inspect(cid, "{{.State.Pid}}"))
        freezer = host_cgroup_dir(pid, "freezer")
        assert podman("pause", cid).returncode == 0
        assert podman.inspect(cid, "{{.State.Status}}") == "paused"
        with open(os.path.join(freezer, "freezer.state")) as f:
            assert f.read().strip() == "FROZEN"
        p = podman("unpause", cid)
        assert p.returncode == 0, p.stderr
        assert podman.inspect(cid, "{{.State.Status}}") == "running"
        with open(os.path.join(freezer, "freezer.state")) as f:
            assert f.read().strip() == "THAWED"
        p = podman("exec", cid, "/bin/echo", "alive")
        assert p.stdout.strip() == "alive"
    finally:
        podman("rm", "-f", "-t", "0", cid)
