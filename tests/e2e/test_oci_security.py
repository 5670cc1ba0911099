"""The runtimes' CVE history, attempted against berth-oci: the runtime binary cannot be reached and
overwritten from a container (CVE-2019-5736), no host descriptor or directory leaks in as the
container's cwd (CVE-2024-21626), and mount targets cannot escape the rootfs through symlinks."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from ocilib import default_config, oci  # noqa: F401


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def wait_file(path, timeout=10):
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.exists(path), f"{path} never appeared"
    time.sleep(0.05)
    return open(path).read()


@pytest.mark.parametrize("protection", ["readonly-mount", "sealed-copy"])
def test_cve_2019_5736_runtime_binary_cannot_be_overwritten(oci, protection):
    """A process in the container holds /proc/1/exe while pid 1 is still the runtime (created
    state), then tries to reopen it for writing once the runtime is gone (after start). Both the
    read-only bind mount and the sealed memfd fallback (forced by BERTH_OCI_SEALED_COPY=1)."""
    before = sha(oci.bin)
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    env = dict(os.environ, BERTH_OCI_SEALED_COPY="1" if protection == "sealed-copy" else "0")
    oci.ok("create", "--bundle", b, cid, env=env)
    attack = ("readlink /proc/1/exe > /tmp/exe-link; exec 3</proc/1/exe || echo noopen > /tmp/result; "
              "while [ ! -e /tmp/go ]; do sleep 0.02; done; "
              "(echo PWNED > /proc/self/fd/3) 2>/tmp/err; echo $? >> /tmp/result; "
              "(echo PWNED >> /proc/1/exe) 2>>/tmp/err; echo $? >> /tmp/result; touch /tmp/done")
    oci.ok("exec", "--detach", cid, "/bin/sh", "-c", attack)
    rootfs = b / "rootfs"
    link = wait_file(rootfs / "tmp" / "exe-link")
    # pid 1 is the runtime, but not the file on the host as such: a read-only detached bind mount
    # of it (the link reads "/", the root of that mount) or a sealed in-memory copy.
    if protection == "sealed-copy":
        assert "memfd:" in link, link
    else:
        assert link.strip() == "/", link
    oci.ok("start", cid)
    (rootfs / "tmp" / "go").write_text("")
    wait_file(rootfs / "tmp" / "done")
    results = (rootfs / "tmp" / "result").read_text().split()
    assert results and all(r != "0" for r in results), (results, (rootfs / "tmp" / "err").read_text())
    assert sha(oci.bin) == before
    oci.ok("delete", "--force", cid)
    assert sha(oci.bin) == before


def test_cve_2019_5736_exec_of_proc_self_exe_runs_the_sealed_copy(oci):
    """exec of /proc/self/exe (the shebang trick's effect) gets the read-only (or sealed) runtime,
    which cannot be opened for writing."""
    b = oci.bundle(args=["/bin/sleep", "1000"])
    # Give the container the runtime's shared libraries (if it is dynamic: the ASan build), so
    # that it could run it at all.
    out = subprocess.run(["ldd", oci.bin], capture_output=True, text=True).stdout
    for lib in re.findall(r"(/\S+\.so[.\d]*)", out):
        dest = b / "rootfs" / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib, dest)
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    # The runtime's own exe, as the container's process sees it at execve.
    p = oci.cmd("exec", cid, "/proc/self/exe", "--version")
    assert p.returncode == 0 and p.stdout.startswith("berth-oci version"), p.stderr
    p = oci.cmd("exec", cid, "/bin/sh", "-c",
                "/proc/self/exe --root /tmp/r list >/dev/null & pid=$!; "
                "(echo x >> /proc/$pid/exe) 2>/dev/null; echo $?; wait")
    assert p.stdout.strip() not in ("", "0"), p.stdout


def test_cve_2024_21626_cwd_cannot_be_a_leaked_descriptor(oci):
    b = oci.bundle(args=["/bin/berth-probe"])
    for fd in range(3, 9):
        cfg = default_config(["/bin/berth-probe"])
        cfg["process"]["cwd"] = f"/proc/self/fd/{fd}"
        (b / "config.json").write_text(json.dumps(cfg))
        cid = oci.new_id()
        p = oci.cmd("run", "--bundle", b, cid)
        if p.returncode == 0:
            rep = json.loads(p.stdout)
            # Resolved inside the container, never a host directory.
            assert not rep["cwd"].startswith("(unreachable)")
            assert rep["cwd"].startswith("/proc/") or rep["cwd"] == "/", rep["cwd"]
        else:
            assert "process.cwd" in p.stderr, p.stderr
        assert cid not in oci.list_ids()
    # The host's working directory is not the container's, and nothing but stdio is open.
    cfg = default_config(["/bin/berth-probe"])
    (b / "config.json").write_text(json.dumps(cfg))
    rep = oci.probe(b)
    assert rep["cwd"] == "/" and sorted(rep["fds"]) == ["0", "1", "2"]


def test_cve_2024_21626_exec_cwd_and_fds(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    for fd in range(3, 9):
        p = oci.cmd("exec", "--cwd", f"/proc/self/fd/{fd}", cid, "/bin/berth-probe")
        if p.returncode == 0:
            assert not json.loads(p.stdout)["cwd"].startswith("(unreachable)")
    # A descriptor open in the caller does not reach the exec'd process (unless preserved).
    with open(tmp_path / "secret", "w") as f:
        p = oci.cmd("exec", cid, "/bin/berth-probe", pass_fds=(f.fileno(),))
        rep = json.loads(p.stdout)
        assert all("secret" not in target for target in rep["fds"].values())
        assert sorted(rep["fds"]) == ["0", "1", "2"]


def test_mount_target_symlink_cannot_escape(oci, tmp_path):
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    cfg = default_config(["/bin/berth-probe"])
    cfg["mounts"] += [
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/evil2/sub", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil3", "type": "bind", "source": str(tmp_path / "src"), "options": ["bind"]},
    ]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "marker").write_text("m")
    b = oci.bundle(cfg)
    rootfs = b / "rootfs"
    os.symlink(str(host_dir), rootfs / "evil")                   # absolute, to a host path
    os.symlink("../../../../../../../../" + str(host_dir), rootfs / "evil2")  # relative, climbing out
    os.symlink("/proc/self/cwd", rootfs / "evil3")              # a magic link
    cid = oci.new_id()
    p = oci.cmd("run", "--bundle", b, cid)
    with open("/proc/self/mountinfo") as f:
        assert str(host_dir) not in f.read()
    assert os.listdir(host_dir) == []
    if p.returncode == 0:
        rep = json.loads(p.stdout)
        targets = [m["target"] for m in rep["mounts"]]
        # The symlinks resolved inside the rootfs: the mounts landed there.
        assert str(host_dir) in targets
    else:
        assert "mounts[" in p.stderr


def test_readonly_paths_and_masked_paths_hold(oci):
    b = oci.bundle()
    with open("/proc/timer_list") as f:
        assert f.read(100)
    rep = oci.probe(b, "read", "/proc/timer_list")
    assert rep["read"] == ""
    rep = oci.probe(b, "read", "/sys/firmware/memmap/0/type")
    assert rep["read"].startswith("error:")
    rep = oci.probe(b, "write", "/proc/sys/kernel/hostname", "x")
    assert rep["write"].startswith("error:")
    ro = [m for m in rep["mounts"] if m["target"] == "/proc/sys"]
    assert ro and ro[0]["options"].startswith("ro")
