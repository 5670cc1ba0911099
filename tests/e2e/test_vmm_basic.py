"""berth-vmm end to end: boots berth's own freestanding guests (tests/guests) and checks what a
user sees: the serial console, the exit status and reason, the control socket, signals, bad
input. Skips only when /dev/kvm is missing."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, binary

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")


def guest(name):
    path = os.path.join(BUILD, "tests", "guests", name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is not built (run scripts/build.sh)")
    return path


def vmm(*args, timeout=30, **kw):
    return subprocess.run([binary("berth-vmm"), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def open_fds(pid):
    return sorted(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("kind", ["pvh", "multiboot"])
def test_hello_prints_and_exits_with_guest_status(kind):
    r = vmm("--kernel", guest(f"hello.{kind}"), "--cmdline", "exit=5 loops=100000")
    assert r.returncode == (5 << 1) | 1, r.stderr
    assert f"hello from the berth test guest ({kind})" in r.stdout
    assert "cmdline: exit=5 loops=100000" in r.stdout
    assert "hello from ring 3" in r.stdout
    assert "ring-3 loop of 100000 iterations: sum 4999950000" in r.stdout
    assert "debug-exit: guest wrote 5 to the debug-exit port (status 11)" in r.stderr


def test_lifecycle_reasons():
    r = vmm("--kernel", guest("hello.pvh"), "--cmdline", "poweroff=1")
    assert r.returncode == 0 and "poweroff: guest powered off (ACPI S5)" in r.stderr
    r = vmm("--kernel", guest("hello.pvh"), "--cmdline", "reboot=1")
    assert r.returncode == 0 and "reboot: guest rebooted (i8042 reset)" in r.stderr
    r = vmm("--kernel", guest("hello.pvh"), "--cmdline", "fault=1")
    assert r.returncode == 4 and "triple-fault: vcpu 0: triple fault" in r.stderr


@pytest.mark.parametrize("cpus", [1, 3])
def test_acpi_walk_finds_our_tables(cpus):
    r = vmm("--kernel", guest("acpi-walk.pvh"), "--cpus", str(cpus), "--cmdline", f"cpus={cpus}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "acpi: RSDP at 0xe0000" in r.stdout
    assert "acpi: table FACP" in r.stdout and "acpi: table APIC" in r.stdout
    assert "acpi: DSDT found" in r.stdout
    assert "acpi: device PNP0501 mmio 0x0 size 0x0 io 0x3f8 irq 4" in r.stdout
    assert f"acpi: MADT {cpus} cpus 1 ioapics" in r.stdout


def test_virtio_devices_are_described_and_answer(tmp_path):
    """--disk/--vsock devices (and the virtio-rng every VM gets) appear in the DSDT as LNRO0005
    with their window and GSI, and their MMIO registers answer the guest."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    vsock = tmp_path / "vsock.sock"
    r = vmm("--kernel", guest("acpi-walk.pvh"), "--disk", str(disk), "--disk", f"{disk},ro",
            "--vsock", f"7:{vsock}")
    assert r.returncode == 1, r.stdout + r.stderr
    expected = [(0xd0000000, 5, 2), (0xd0001000, 6, 2), (0xd0002000, 7, 19), (0xd0003000, 10, 4)]
    for base, gsi, dev_id in expected:
        assert f"acpi: device LNRO0005 mmio {base:#x} size 0x200 io 0x0 irq {gsi}" in r.stdout
        assert f"virtio: {base:#x} magic 0x74726976 version 2 device {dev_id}" in r.stdout
    assert sorted(os.listdir(tmp_path)) == ["disk.img"]  # the vsock socket is gone


def test_reboot_restarts_when_asked(tmp_path):
    api = str(tmp_path / "api.sock")
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", guest("hello.pvh"), "--cmdline", "reboot=1",
                          "--on-reboot", "restart", "--api-sock", api], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        boots = 0
        deadline = time.time() + 20
        while boots < 3 and time.time() < deadline:
            if "hello from the berth test guest" in p.stdout.readline():
                boots += 1
        assert boots == 3
        c = Control(api)
        assert c("stop")["ok"]
        c.close()
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    assert "reboot: guest rebooted (i8042 reset)" in err and "restarted after the guest's reboot" in err


def test_config_file_and_overrides(tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({"kernel": guest("hello.pvh"), "cmdline": "exit=9", "cpus": 2, "memory_mib": 64}))
    r = vmm("--config", str(cfg))
    assert r.returncode == 19, r.stderr
    r = vmm("--config", str(cfg), "--cmdline", "exit=10")
    assert r.returncode == 21, r.stderr
    cfg.write_text(json.dumps({"kernel": guest("hello.pvh"), "cpu": 2}))
    r = vmm("--config", str(cfg))
    assert r.returncode == 2 and f"{cfg}: unknown key 'cpu'" in r.stderr
    cfg.write_text("{not json")
    r = vmm("--config", str(cfg))
    assert r.returncode == 2 and str(cfg) in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_console_to_file(tmp_path):
    out = tmp_path / "console.log"
    r = vmm("--kernel", guest("hello.pvh"), "--console", str(out))
    assert r.returncode == 43
    assert r.stdout == ""
    assert "hello from ring 3" in out.read_text()


def test_console_socket_input_and_output(tmp_path):
    sock_path = str(tmp_path / "console.sock")
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", guest("hello.pvh"), "--cmdline", "spin=1",
                          "--console", f"socket:{sock_path}"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock_path) and time.time() < deadline:
            time.sleep(0.02)
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock_path)
        c.close()
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGINT, err
    assert "stopped by SIGINT" in err
    assert not os.path.exists(sock_path)


class Control:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("r")

    def __call__(self, action, **kw):
        self.s.sendall((json.dumps(dict(action=action, **kw)) + "\n").encode())
        return json.loads(self.f.readline())

    def close(self):
        self.f.close()
        self.s.close()


def wait_for(path, timeout=10):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_control_socket_lifecycle(tmp_path):
    api = str(tmp_path / "api.sock")
    p = subprocess.Popen([binary("berth-vmm"), "--api-sock", api], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(api)
        c = Control(api)
        assert c("status")["state"] == "not-configured"
        r = c("start")
        assert not r["ok"] and r["error"] == "cannot start: the VM is not configured (no kernel)"
        r = c("pause")
        assert not r["ok"] and r["error"] == "cannot pause: the VM is not-configured"
        r = c("configure", config={"kernel": "/nonexistent"})
        assert not r["ok"] and "kernel /nonexistent" in r["error"]
        r = c("configure", config={"kernel": guest("hello.pvh"), "cmdline": "spin=1", "cpus": 2, "memory_mib": 64})
        assert r["ok"] and r["state"] == "configured", r
        r = c("configure", config={"bogus": 1})
        assert not r["ok"] and "unknown key 'bogus'" in r["error"]
        r = c("start")
        assert r["ok"] and r["state"] == "running", r
        r = c("start")
        assert not r["ok"] and r["error"] == "cannot start: the VM is running"
        r = c("resume")
        assert not r["ok"] and r["error"] == "cannot resume: the VM is running"
        r = c("configure", config={"cpus": 1})
        assert not r["ok"] and r["error"] == "cannot configure: the VM is running"
        assert c("pause")["state"] == "paused"
        m1 = c("metrics")["metrics"]
        time.sleep(0.2)
        m2 = c("metrics")["metrics"]
        assert m1["exits"] == m2["exits"]  # paused: no vCPU runs
        assert [v["state"] for v in m2["vcpus"]] == ["paused", "paused"]
        assert c("resume")["state"] == "running"
        s = c("status")
        assert s["config"]["cpus"] == 2 and s["boot_protocol"] == "pvh"
        expected = ("hello from the berth test guest (pvh)\ncmdline: spin=1\nhello from ring 3\n"
                    "ring-3 loop of 1000 iterations: sum 499500\nspinning in ring 3\n")
        deadline = time.time() + 10
        while c("metrics")["metrics"]["serial_tx_bytes"] < len(expected):
            assert time.time() < deadline, "the guest printed nothing"
            time.sleep(0.05)
        r = c("nonsense")
        assert not r["ok"] and "unknown action 'nonsense'" in r["error"]
        assert c("stop")["ok"]
        c.close()
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "stopped: stopped by the control socket" in err
    assert out == expected
    assert not os.path.exists(api)


def test_sigterm_presses_the_acpi_power_button():
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", guest("hello.pvh"), "--cmdline", "button=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        line = ""
        while "waiting for the power button" not in line and time.time() < deadline:
            line = p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "power button pressed: powering off" in out
    assert "SIGTERM: pressed the ACPI power button" in err
    assert "poweroff: guest powered off (ACPI S5)" in err


def test_sigterm_without_acpi_listener_stops(tmp_path):
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", guest("hello.pvh"), "--cmdline", "spin=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        line = ""
        while "spinning" not in line and time.time() < deadline:
            line = p.stdout.readline()
        base = len(open_fds(p.pid))
        # a handful: stdio, kvm, vm, vcpu, eventfds, epoll, signalfd, timerfd, and virtio-rng and
        # virtio-console (irqfd, ioeventfds, epoll, the console input pipe)
        assert base < 32
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + signal.SIGTERM
    assert "does not listen to the ACPI power button" in err


@pytest.mark.parametrize("args,message", [
    (["--kernel", "/nonexistent/vmlinux"], "kernel /nonexistent/vmlinux: No such file or directory"),
    (["--kernel", "/etc/services"], "not a bzImage, ELF or multiboot image"),
    (["--kernel", "/etc/hostname"], "too short to be a kernel"),
    (["--kernel", "KERNEL", "--cpus", "0"], "--cpus: 0 is out of range (1-64)"),
    (["--kernel", "KERNEL", "--cpus", "two"], "--cpus: 'two' is not a number"),
    (["--kernel", "KERNEL", "--memory", "99999999999"], "--memory: 99999999999 is out of range"),
    (["--kernel", "KERNEL", "--disk", "/nonexistent.img"], "disk /nonexistent.img: No such file or directory"),
    (["--kernel", "KERNEL", "--disk", "x.img,rw,foo"], "unknown option"),
    (["--kernel", "KERNEL", "--vsock", "2:/tmp/x"], "--vsock CID: 2 is out of range"),
    (["--bogus"], "unknown or incomplete option '--bogus'"),
    ([], "no kernel given"),
])
def test_bad_input_one_clear_error(tmp_path, args, message):
    args = [guest("hello.pvh") if a == "KERNEL" else a for a in args]
    r = vmm(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert os.listdir(tmp_path) == []


def test_read_only_disk_and_big_initrd(tmp_path):
    disk = tmp_path / "ro.img"
    disk.write_bytes(b"\0" * 4096)
    disk.chmod(0o444)
    r = vmm("--kernel", guest("hello.pvh"), "--disk", str(disk))
    assert r.returncode == 2 and "read-only" in r.stderr and "attach it with ,ro" in r.stderr
    initrd = tmp_path / "initrd"
    with open(initrd, "wb") as f:
        f.truncate(40 << 20)
    r = vmm("--kernel", guest("hello.pvh"), "--memory", "32", "--initrd", str(initrd))
    assert r.returncode == 2 and f"initrd {initrd}" in r.stderr and "does not fit" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_same_guest_under_qemu_microvm():
    """The same images boot under QEMU's microvm: our guests follow the PVH/multiboot specs, not
    berth-vmm's quirks."""
    qemu = "/usr/bin/qemu-system-x86_64"
    if not os.path.exists(qemu):
        pytest.skip("qemu-system-x86_64 is not installed")
    for kind in ("pvh", "multiboot"):
        r = subprocess.run([qemu, "-M", "microvm", "-accel", "kvm", "-m", "64", "-nographic", "-nodefaults",
                            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                            "-kernel", guest(f"hello.{kind}"), "-append", "exit=6", "-no-reboot"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 13, r.stderr
        assert "hello from ring 3" in r.stdout
