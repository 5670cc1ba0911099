"""berth-oci's cgroup backends end to end: cgroupsPath forms on this host's v1 controllers, the v1
devices controller, and the v2 backend on a private cgroup2 mount (berth-oci runs in a mount
namespace where cgroup2 is mounted over /sys/fs/cgroup, so it sees a pure v2 host): eBPF device
filter, the unified map, pause/resume through cgroup.freeze, and removal at delete."""
import os
import subprocess
import textwrap
import uuid

from ocilib import default_config, oci  # noqa: F401


def cgroup_of(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    return None


def own_cgroup(controller):
    return cgroup_of(os.getpid(), controller)


def fuse_device_config(args, allow_fuse):
    """A container with a /dev/fuse node (c 10:229, openable without capabilities); the devices
    cgroup denies everything except the runtime's default set, plus fuse when asked."""
    cfg = default_config(args)
    cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]
    rules = [{"allow": False, "access": "rwm"}]
    if allow_fuse:
        rules.append({"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"})
    cfg["linux"]["resources"] = {"devices": rules}
    return cfg


# `true`, not `:` or `exec`: a failed redirection on a special builtin ends the shell.
PROBE_DEVICES = "true 2>/dev/null 3<>/dev/fuse && echo fuse-open || echo fuse-denied; true </dev/null && echo null-open"


def test_v1_devices_controller(oci):
    for allow, want in ((False, "fuse-denied"), (True, "fuse-open")):
        b = oci.bundle(fuse_device_config(["/bin/sh", "-c", PROBE_DEVICES + " 2>/dev/null"], allow))
        p = oci.ok("run", "--bundle", b, oci.new_id())
        assert p.stdout.split() == [want, "null-open"], p.stdout


def test_relative_cgroups_path_nests_under_our_own(oci):
    rel = f"berth-e2e-rel-{uuid.uuid4().hex[:8]}"
    cfg = default_config(["/bin/sleep", "600"])
    cfg["linux"]["cgroupsPath"] = rel
    cfg["linux"]["resources"] = {"pids": {"limit": 17}}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    pid = oci.state(cid)["pid"]
    want = os.path.join(own_cgroup("pids"), rel)
    assert cgroup_of(pid, "pids") == want
    host = os.path.join("/sys/fs/cgroup/pids", want.lstrip("/"))
    assert open(os.path.join(host, "pids.max")).read().strip() == "17"
    oci.ok("delete", "--force", cid)
    assert not os.path.exists(host)


def test_systemd_cgroups_path_errors(oci):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["cgroupsPath"] = "machine.slice:berth:x"
    b = oci.bundle(cfg)
    oci.fails("run", "--bundle", b, oci.new_id(), contains="--systemd-cgroup")
    if not os.path.isdir("/run/systemd/system"):
        oci.fails("--systemd-cgroup", "run", "--bundle", b, oci.new_id(), contains="not supported")


def test_bad_resources_are_one_clear_error(oci):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["cgroupsPath"] = f"/berth-e2e-bad-{uuid.uuid4().hex[:8]}"
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20, "swap": 1 << 20}}
    b = oci.bundle(cfg)
    oci.fails("run", "--bundle", b, oci.new_id(), contains="memory.swap")
    assert not os.path.exists("/sys/fs/cgroup/memory" + cfg["linux"]["cgroupsPath"])
    cfg["linux"]["resources"] = {"unified": {"memory.high": "10M"}}
    b = oci.bundle(cfg)
    oci.fails("run", "--bundle", b, oci.new_id(), contains="cgroup v2")
    assert not os.path.exists("/sys/fs/cgroup/memory" + cfg["linux"]["cgroupsPath"])


def test_v2_backend_on_private_cgroup2_mount(oci, tmp_path):
    top = f"berth-e2e-v2-{uuid.uuid4().hex[:8]}"
    cfg = fuse_device_config(["/bin/sh", "-c", "{ " + PROBE_DEVICES + "; } >/probe.out 2>&1; exec sleep 600"], False)
    cfg["linux"]["cgroupsPath"] = f"/{top}/c"
    cfg["linux"]["resources"]["unified"] = {"cgroup.max.descendants": "3"}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    script = textwrap.dedent(f"""\
        set -e
        mount -t cgroup2 none /sys/fs/cgroup
        B="{oci.bin} --root {oci.root}"
        cg=/sys/fs/cgroup/{top}/c
        $B run -d --bundle {b} {cid}
        pid=$($B state {cid} | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
        echo "cgroup=$(grep ^0:: /proc/$pid/cgroup)"
        echo "descendants=$(cat $cg/cgroup.max.descendants)"
        $B pause {cid}
        echo "paused=$(grep frozen $cg/cgroup.events)"
        $B resume {cid}
        echo "resumed=$(grep frozen $cg/cgroup.events)"
        sleep 0.2
        echo "probe=$(cat {b}/rootfs/probe.out | tr '\\n' ' ')"
        $B delete --force {cid}
        test -d $cg && echo left=yes || echo left=no
        test -d /sys/fs/cgroup/{top} && echo left-top=yes || echo left-top=no
        """)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                       text=True, timeout=60)
    # Whatever happened, nothing may stay behind in the (shared) unified hierarchy.
    leftover = f"/sys/fs/cgroup/unified/{top}"
    if os.path.isdir(leftover):
        subprocess.run(["find", leftover, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
    assert p.returncode == 0, p.stderr + p.stdout
    out = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    assert out["cgroup"] == f"0::/{top}/c", out
    assert out["descendants"] == "3"
    assert out["paused"] == "frozen 1" and out["resumed"] == "frozen 0", out
    assert out["probe"].split() == ["fuse-denied", "null-open"], out["probe"]
    assert out["left"] == "no" and out["left-top"] == "no"
