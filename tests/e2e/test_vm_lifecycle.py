"""berth vm end to end: VMs from images boot the stock kernel with berth's initramfs (through QEMU
on this machine, whose KVM cannot run a stock kernel; through berth-vmm on hardware-backed KVM),
keep their disk across restarts, run commands through the agent, and clone from templates by the
hundred with distinct identities. Every VM is removed by the test that made it."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import binary

pytestmark = pytest.mark.skipif(not shutil.which("qemu-system-x86_64") and not os.path.exists("/dev/kvm"),
                                reason="neither qemu-system-x86_64 nor /dev/kvm")


def berth(env, *args, check=True, input=None, timeout=300):
    p = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, input=input,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


@pytest.fixture
def vm_env(berth_env, busybox_rootfs):
    kernels = [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")] if os.path.isdir("/boot") else []
    if not kernels:
        pytest.skip("no guest kernel installed (linux-image-cloud-amd64)")
    berth(berth_env, "image", "import", "--rootfs", busybox_rootfs, "busybox:vm")
    yield berth_env
    # Remove every VM this test made, running or not, and check nothing of theirs remains.
    out = berth(berth_env, "vm", "ls", "--format", "json", check=False)
    for vm in json.loads(out.stdout or "[]"):
        berth(berth_env, "vm", "rm", "--force", vm["name"], check=False)
    run = os.path.join(berth_env["BERTH_RUNTIME_DIR"], "v")
    assert not os.path.isdir(run) or os.listdir(run) == []


def vm_info(env, name):
    return json.loads(berth(env, "vm", "inspect", name).stdout)[0]


def wait_state(env, name, state, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = vm_info(env, name)
        if info["state"] == state:
            return info
        time.sleep(0.5)
    pytest.fail(f"VM {name} did not reach state {state}: {vm_info(env, name)}")


def qemu_img_check(path):
    p = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_vm_bad_input_is_refused_cleanly(vm_env):
    cases = [
        (["vm", "create", "bad/name", "--image", "busybox:vm"], "invalid VM name"),
        (["vm", "create", "x1", "--image", "nosuch:image"], "not found"),
        (["vm", "create", "x2"], "exactly one of --image, --disk"),
        (["vm", "create", "x3", "--image", "busybox:vm", "--cpus", "0"], "--cpus"),
        (["vm", "create", "x4", "--image", "busybox:vm", "--memory", "lots"], "--memory"),
        (["vm", "create", "x5", "--image", "busybox:vm", "--memory", "8"], "between 64 MiB"),
        (["vm", "create", "x6", "--image", "busybox:vm", "--backend", "xen"], "unknown --backend"),
        (["vm", "create", "x7", "--disk", "/nonexistent.qcow2"], "/nonexistent.qcow2"),
        (["vm", "start", "ghost"], "no such VM: ghost"),
        (["vm", "rm", "ghost"], "no such VM: ghost"),
        (["vm", "clone", "ghost-template", "--count", "3"], "no such VM template"),
        (["vm", "template", "create", "t", "--image", "busybox:vm", "--from", "x"], "exactly one of"),
    ]
    for args, msg in cases:
        p = berth(vm_env, *args, check=False)
        assert p.returncode != 0, args
        assert msg in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert json.loads(berth(vm_env, "vm", "ls", "--format", "json").stdout) == []
    # Nothing half-made: no VM directories either.
    vms = os.path.join(vm_env["BERTH_ROOT"], "vms")
    assert not os.path.isdir(vms) or os.listdir(vms) == []

    berth(vm_env, "vm", "create", "dup", "--image", "busybox:vm", "--", "/bin/true")
    p = berth(vm_env, "vm", "create", "dup", "--image", "busybox:vm", check=False)
    assert p.returncode != 0 and "a VM named 'dup' already exists" in p.stderr
    p = berth(vm_env, "vm", "stop", "dup", check=False)
    assert p.returncode != 0 and "VM dup is not running" in p.stderr
    p = berth(vm_env, "vm", "exec", "dup", "true", check=False)
    assert p.returncode != 0 and "VM dup is not running" in p.stderr
    # --format json is accepted by inspect like by every other verb; it prints JSON only.
    assert json.loads(berth(vm_env, "vm", "inspect", "--format", "json", "dup").stdout)[0]["name"] == "dup"
    p = berth(vm_env, "vm", "inspect", "--format", "text", "dup", check=False)
    assert p.returncode == 125 and "inspect prints JSON only" in p.stderr
    berth(vm_env, "vm", "rm", "dup")


def test_vm_runs_command_keeps_disk_and_execs(vm_env):
    env = vm_env
    berth(env, "vm", "create", "web", "--image", "busybox:vm", "--memory", "192", "--", "/bin/sleep", "3600")
    info = vm_info(env, "web")
    disk = os.path.join(info["dir"], "disk.qcow2")
    qemu_img_check(disk)
    p = berth(env, "vm", "start", "web")
    assert "started VM web with" in p.stderr
    # berth says which backend runs the VM and why.
    assert ("qemu" in p.stderr and "auto:" in p.stderr) or "berth-vmm" in p.stderr
    p = berth(env, "vm", "start", "web", check=False)
    assert p.returncode != 0 and "VM web is already running" in p.stderr

    p = berth(env, "vm", "exec", "web", "/bin/sh", "-c", "hostname; echo kept-data > /kept; sync; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip() == "web"
    p = berth(env, "vm", "exec", "-i", "web", "cat", input="through stdin\n")
    assert p.stdout == "through stdin\n"
    p = berth(env, "vm", "exec", "web", "/nonexistent", check=False)
    assert p.returncode == 127

    # Both disks open with their recorded format, never probed (a guest can write a qcow2 header
    # into a raw disk): QEMU's -drive and berth-vmm's --disk each carry format=.
    with open(f"/proc/{vm_info(env, 'web')['pid']}/cmdline", "rb") as f:
        argv = f.read().decode().split("\0")
    drives = [a for a in argv if a.startswith(("id=root,", "id=cfg,")) or a.endswith((".qcow2,format=qcow2", ",ro,format=raw"))]
    assert len(drives) == 2 and all("format=" in d for d in drives), argv
    assert any("disk.qcow2" in d and "format=qcow2" in d for d in drives), argv
    assert any("format=raw" in d for d in drives), argv

    stats = json.loads(berth(env, "vm", "stats", "--format", "json", "web").stdout)[0]
    assert stats["state"] == "running" and stats["memory_usage"] > 0
    assert stats["memory_limit"] >= 192 << 20

    p = berth(env, "vm", "rm", "web", check=False)
    assert p.returncode != 0 and "stop it first or use --force" in p.stderr
    berth(env, "vm", "stop", "web")
    assert vm_info(env, "web")["state"] == "stopped"
    qemu_img_check(disk)

    berth(env, "vm", "start", "web")
    p = berth(env, "vm", "exec", "web", "cat", "/kept")
    assert p.stdout == "kept-data\n"
    logs = berth(env, "vm", "logs", "web").stdout
    assert logs.count("berth-agent: root /dev/vda mounted") == 2
    tail = berth(env, "vm", "logs", "--tail", "1", "web").stdout
    assert len(tail.strip().splitlines()) == 1
    berth(env, "vm", "rm", "--force", "web")
    assert not os.path.exists(info["dir"])
    assert json.loads(berth(env, "vm", "ls", "--format", "json").stdout) == []


def test_vm_exit_status_and_qemu_img_disk(vm_env, tmp_path):
    env = vm_env
    # A disk made by qemu-img on berth's template boots in berth.
    berth(env, "vm", "template", "create", "base", "--image", "busybox:vm")
    template = os.path.join(env["BERTH_ROOT"], "templates", "base.qcow2")
    qemu_img_check(template)
    disk = tmp_path / "user.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", template, "-F", "qcow2", str(disk)], check=True)
    berth(env, "vm", "create", "job", "--disk", str(disk), "--start", "--",
          "/bin/sh", "-c", "echo job-ran-$((40+2)); exit 7")
    info = wait_state(env, "job", "stopped")
    assert info["exit_status"] == 7
    assert "job-ran-42" in berth(env, "vm", "logs", "job").stdout
    # The user's file is untouched: the VM wrote to its own overlay.
    qemu_img_check(str(disk))
    p = subprocess.run(["qemu-img", "info", "--output=json", str(disk)], capture_output=True, text=True, check=True)
    assert json.loads(p.stdout)["backing-filename"] == template
    berth(env, "vm", "rm", "job")
    p = berth(env, "vm", "template", "rm", "base")
    assert not os.path.exists(template)


def test_clone_hundred_with_distinct_identities(vm_env):
    env = vm_env
    berth(env, "vm", "template", "create", "gold", "--image", "busybox:vm")
    assert "gold" in berth(env, "vm", "template", "ls").stdout.split()
    p = berth(env, "vm", "clone", "gold", "--count", "100", "--name-prefix", "node", "--memory", "160", "--format", "json")
    assert json.loads(p.stdout)["created"] == 100
    vms = json.loads(berth(env, "vm", "ls", "--format", "json").stdout)
    assert sorted(v["name"] for v in vms) == sorted(f"node-{i}" for i in range(1, 101))
    for key in ("id", "mac", "cid", "machine_id", "hostname"):
        assert len({v[key] for v in vms}) == 100, key
    for v in vms[::25]:
        qemu_img_check(os.path.join(v["dir"], "disk.qcow2"))
    # Clone numbering continues after the names taken; --start boots what it made, each with its
    # own hostname and machine-id.
    p = berth(env, "vm", "clone", "gold", "--count", "2", "--name-prefix", "node", "--start", "--format", "json")
    made = json.loads(p.stdout)
    assert made["names"] == ["node-101", "node-102"] and made["started"] == 2, made
    for name in made["names"]:
        assert vm_info(env, name)["state"] == "running"
    assert vm_info(env, "node-100")["state"] != "running"
    p = berth(env, "vm", "template", "rm", "gold", check=False)
    assert p.returncode != 0 and "used by 102 VM(s)" in p.stderr
    seen = {}
    for name in made["names"]:
        out = berth(env, "vm", "exec", name, "/bin/sh", "-c", "hostname; cat /etc/machine-id").stdout.split()
        seen[name] = out
        assert out[0] == name
    assert seen["node-101"][1] != seen["node-102"][1]
    by_name = {v["name"]: v for v in json.loads(berth(env, "vm", "ls", "--format", "json").stdout)}
    assert seen["node-101"][1] == by_name["node-101"]["machine_id"]

    for v in json.loads(berth(env, "vm", "ls", "--format", "json").stdout):
        berth(env, "vm", "rm", "--force", v["name"])
    assert os.listdir(os.path.join(env["BERTH_ROOT"], "vms")) == []
    berth(env, "vm", "template", "rm", "gold")


def test_balloon_on_qemu(vm_env):
    """berth vm balloon on the qemu backend (QMP balloon/query-balloon): the stock kernel's
    virtio_balloon driver, loaded by berth's initramfs, gives 16 MiB back and takes them again."""
    env = vm_env

    def balloon(*args, check=True):
        return berth(env, "vm", "balloon", "--format", "json", "bq", *args, check=check)

    berth(env, "vm", "create", "bq", "--image", "busybox:vm", "--backend", "qemu", "--memory", "192", "--balloon",
          "--", "/bin/sleep", "3600")
    assert vm_info(env, "bq")["balloon"] is True
    berth(env, "vm", "start", "bq")
    # The agent answers once the guest is up (its modules loaded, the balloon driver among them).
    p = berth(env, "vm", "exec", "bq", "/bin/sh", "-c", "ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio")
    assert p.stdout.strip() == "1", p.stdout
    b = json.loads(balloon("16M").stdout)
    assert b["target_mib"] == 16 and b["memory_mib"] == 192, b
    # --wait (without SIZE: the target just set) returns once the guest's driver holds it.
    b = json.loads(balloon("--wait", "--timeout", "60").stdout)
    assert (b["target_mib"], b["actual_mib"]) == (16, 16), b
    assert vm_info(env, "bq")["balloon_state"]["actual_mib"] == 16
    b = json.loads(balloon("0", "--wait", "--timeout", "60").stdout)
    assert (b["target_mib"], b["actual_mib"]) == (0, 0), b
    p = balloon("192M", check=False)
    assert p.returncode == 1 and "must leave the guest some memory" in p.stderr, p.stderr
    berth(env, "vm", "rm", "--force", "bq")
