"""Helpers for the berth-oci e2e tests: bundles from the busybox rootfs with berth-probe inside, a
runtime wrapper with a private --root, and cleanup of every container a test created (by id)."""
import json
import os
import shutil
import subprocess
import tempfile
import uuid

from conftest import BUILD, binary

PROBE = os.path.join(BUILD, "tests", "helpers", "berth-probe")


def default_config(args):
    """A config like `berth-oci spec` writes, terminal off, running args."""
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {s: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                             for s in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "probe-host",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/acpi"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus"],
        },
    }


class Runtime:
    """berth-oci with a private --root; remembers ids to force-delete them at teardown."""

    def __init__(self, tmp_path, rootfs):
        self.tmp = tmp_path
        self.source_rootfs = rootfs
        self.root = str(tmp_path / "oci-root")
        self.bin = binary("berth-oci")
        self.ids = []

    def new_id(self, prefix="t"):
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, config=None, args=None, name="bundle"):
        """A bundle dir with a private copy of the busybox rootfs (berth-probe at /bin/berth-probe)."""
        b = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}"
        b.mkdir()
        subprocess.run(["cp", "-a", self.source_rootfs, str(b / "rootfs")], check=True)
        shutil.copy(PROBE, b / "rootfs" / "bin" / "berth-probe")
        cfg = config if config is not None else default_config(args or ["/bin/berth-probe"])
        (b / "config.json").write_text(json.dumps(cfg))
        return b

    def cmd(self, *args, check=False, input=None, timeout=60, env=None, **kw):
        """Runs berth-oci; output goes through files, not pipes: a created container's init keeps
        the stdio it inherited open, so pipes would not reach EOF until it exits."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([self.bin, "--root", self.root, *map(str, args)], stdout=out, stderr=err,
                               input=input.encode() if isinstance(input, str) else input,
                               timeout=timeout, env=env, **kw)
            out.seek(0)
            err.seek(0)
            res = subprocess.CompletedProcess(p.args, p.returncode, out.read().decode(errors="replace"),
                                              err.read().decode(errors="replace"))
        if check and res.returncode:
            raise subprocess.CalledProcessError(res.returncode, res.args, res.stdout, res.stderr)
        return res

    def ok(self, *args, **kw):
        p = self.cmd(*args, **kw)
        assert p.returncode == 0, f"berth-oci {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr}"
        return p

    def fails(self, *args, contains=None, **kw):
        """Runs a command that must fail with exactly one clear line on stderr."""
        p = self.cmd(*args, **kw)
        assert p.returncode != 0, f"berth-oci {' '.join(map(str, args))} unexpectedly succeeded"
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one error line, got: {p.stderr!r}"
        assert lines[0].startswith("berth-oci: "), lines[0]
        if contains:
            assert contains in lines[0], f"{contains!r} not in {lines[0]!r}"
        return lines[0]

    def state(self, cid):
        return json.loads(self.ok("state", cid).stdout)

    def probe(self, bundle, *probe_args):
        """Runs berth-probe in a fresh container from bundle (non-detached) and returns its report."""
        cfg = json.loads((bundle / "config.json").read_text())
        cfg["process"]["args"] = ["/bin/berth-probe", *probe_args]
        (bundle / "config.json").write_text(json.dumps(cfg))
        cid = self.new_id()
        p = self.ok("run", "--bundle", bundle, cid)
        return json.loads(p.stdout)

    def list_ids(self):
        return [c["id"] for c in json.loads(self.ok("list", "--format", "json").stdout)]

    def cleanup(self):
        for cid in self.ids:
            self.cmd("delete", "--force", cid)
        leftover = self.list_ids() if os.path.isdir(self.root) else []
        shutil.rmtree(self.root, ignore_errors=True)
        return leftover


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] not in "ZX"
    except OSError:
        return False


import pytest  # noqa: E402


@pytest.fixture
def oci(tmp_path, busybox_rootfs):
    rt = Runtime(tmp_path, busybox_rootfs)
    yield rt
    leftover = rt.cleanup()
    assert not leftover, f"containers left behind: {leftover}"
