"""`berth vm console` and `berth vm logs` on a berth-vmm VM: the record is created with
`--backend berth-vmm` and booted with the console-echo test guest in place of the Linux kernel
(BERTH_VM_KERNEL; this KVM cannot boot a stock kernel), which answers every line typed on the UART
or virtio-console. Typed input must come back, the detach key must leave the VM running and the
terminal as it was, and the log must be appended across boots like the QEMU backend's."""
import json
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from conftest import BUILD, binary, read_pty

ECHO = os.path.join(BUILD, "tests", "guests", "console-echo.pvh")

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")


def berth(env, *args, check=True, timeout=120, **kw):
    p = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def read_until(fd, text, timeout=30.0):
    buf = b""
    end = time.monotonic() + timeout
    while text.encode() not in buf:
        left = end - time.monotonic()
        assert left > 0, f"{text!r} not seen in {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"EOF before {text!r} in {buf!r}"
            buf += chunk
    return buf.decode(errors="replace")


def wait_for(pred, what, timeout=30.0):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, what
        time.sleep(0.1)


@pytest.fixture
def echo_vm(berth_env, tmp_path):
    if not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]:
        pytest.skip("no guest kernel installed (berth vm start prepares its initramfs)")
    env = dict(berth_env, BERTH_VM_KERNEL=ECHO)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    name = f"echo{os.getpid()}"
    berth(env, "vm", "create", name, "--disk", str(disk), "--backend", "berth-vmm", "--memory", "64")
    yield env, name
    berth(env, "vm", "rm", "--force", name, check=False)
    run = os.path.join(env["BERTH_RUNTIME_DIR"], "v")
    assert not os.path.isdir(run) or os.listdir(run) == []


def state(env, name):
    return json.loads(berth(env, "vm", "inspect", name).stdout)[0]["state"]


def logs(env, name):
    return berth(env, "vm", "logs", name).stdout


def test_console_is_bidirectional_on_berth_vmm(echo_vm):
    env, name = echo_vm
    p = berth(env, "vm", "start", name)
    assert "berth-vmm" in p.stdout + p.stderr
    wait_for(lambda: "console-echo: ready" in logs(env, name), "the guest never printed its banner")

    # Interactive, on a terminal: raw mode, typed lines come back, Ctrl-] detaches.
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    c = subprocess.Popen([binary("berth"), "vm", "console", name], env=env, stdin=slave, stdout=slave,
                         stderr=slave)
    try:
        read_until(master, "attached to")
        os.write(master, b"typed on a tty\r")
        read_until(master, "uart echo: typed on a tty")
        os.write(master, b"\x1d")
        read_until(master, "detached")
        assert c.wait(timeout=10) == 0
        assert termios.tcgetattr(slave) == before, "berth vm console left the terminal raw"
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()
        os.close(master)
        os.close(slave)
    assert state(env, name) == "running"

    # From a pipe (a program driving the console): the same protocol.
    c = subprocess.Popen([binary("berth"), "vm", "console", name], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        c.stdin.write(b"from a pipe\n")
        c.stdin.flush()
        read_until(c.stdout.fileno(), "hvc echo: from a pipe")
    finally:
        c.stdin.close()
        c.wait(timeout=10)
        c.stdout.close()
        c.stderr.close()

    # Everything reached the log that berth vm logs reads, as with QEMU.
    text = logs(env, name)
    assert "uart echo: typed on a tty" in text and "hvc echo: from a pipe" in text

    # Ending the guest from the console stops the VM; a second boot appends to the log.
    c = subprocess.run([binary("berth"), "vm", "console", name], env=env, input=b"exit 0\n", capture_output=True,
                       timeout=30)
    wait_for(lambda: state(env, name) == "stopped",
             "the VM did not stop after 'exit 0'")
    berth(env, "vm", "start", name)
    wait_for(lambda: logs(env, name).count("console-echo: ready") == 2, "the log was not appended on reboot")
    berth(env, "vm", "stop", name)


def test_console_refuses_a_stopped_vm(echo_vm):
    env, name = echo_vm
    p = berth(env, "vm", "console", name, check=False)
    assert p.returncode != 0 and f"VM {name} is not running" in p.stderr


def console_line(env, name, line):
    """Types line on the VM's console and waits for the guest's echo of it (it has acted on it)."""
    c = subprocess.Popen([binary("berth"), "vm", "console", name], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        c.stdin.write(line.encode() + b"\n")
        c.stdin.flush()
        read_until(c.stdout.fileno(), f"echo: {line}")
    finally:
        c.stdin.close()
        c.wait(timeout=10)
        c.stdout.close()
        c.stderr.close()


def balloon(env, name, *args, check=True):
    return berth(env, "vm", "balloon", "--format", "json", name, *args, check=check)


def test_balloon_inflates_and_deflates_through_berth_vm(berth_env, tmp_path):
    """berth vm balloon drives berth-vmm's balloon as test_vmm_console drives it over the API socket:
    the console-echo guest's driver follows the target, inspect shows it, bad sizes and VMs without
    a balloon get one-line errors."""
    if not [f for f in os.listdir("/boot") if f.startswith("vmlinuz-")]:
        pytest.skip("no guest kernel installed (berth vm start prepares its initramfs)")
    env = dict(berth_env, BERTH_VM_KERNEL=ECHO)
    usage = berth(env, "vm", "balloon", "--help").stdout
    assert "Usage: berth vm balloon [--format text|json] NAME [SIZE] [--wait [--timeout SECONDS]]" in usage
    assert "--timeout SECONDS" in usage
    assert "--balloon" in berth(env, "vm", "create", "--help").stdout
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    name, plain = f"bal{os.getpid()}", f"nobal{os.getpid()}"
    try:
        berth(env, "vm", "create", name, "--disk", str(disk), "--backend", "berth-vmm", "--memory", "64", "--balloon")
        berth(env, "vm", "create", plain, "--disk", str(disk), "--backend", "berth-vmm", "--memory", "64")
        info = json.loads(berth(env, "vm", "inspect", name).stdout)[0]
        assert info["balloon"] is True and info["balloon_state"] is None
        p = balloon(env, name, "16M", check=False)
        assert p.returncode == 1 and p.stderr == f"berth vm balloon: VM {name} is not running (start it first)\n"

        berth(env, "vm", "start", name)
        wait_for(lambda: "console-echo: ready" in logs(env, name), "the guest never printed its banner")
        b = json.loads(balloon(env, name, "16M").stdout)
        assert b["target_mib"] == 16 and b["target_pages"] == 4096 and b["memory_mib"] == 64, b
        # The guest's driver inflates: "actual" follows, seen by berth vm balloon and inspect alike.
        wait_for(lambda: json.loads(balloon(env, name).stdout)["actual_mib"] == 16, "the balloon never inflated")
        # --wait returns once the guest holds the new target: its state then is the final one.
        b = json.loads(balloon(env, name, "32M", "--wait").stdout)
        assert (b["target_pages"], b["actual_pages"], b["inflated_pages"]) == (8192, 8192, 8192), b
        # On a terminal it shows the actual size as it moves, then the result line.
        master, slave = pty.openpty()
        try:
            p = subprocess.run([binary("berth"), "vm", "balloon", name, "16M", "--wait", "--timeout", "20"], env=env,
                               stdout=slave, stderr=subprocess.PIPE, timeout=60)
            os.close(slave)
            slave = -1
            out = read_pty(master, 0.5)
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        assert p.returncode == 0, p.stderr
        text = out.decode()
        assert f"VM {name}: balloon actual " in text and "target 16 MiB..." in text, text
        assert text.endswith(f"\r\x1b[KVM {name}: balloon target 16 MiB, actual 16 MiB (of 64 MiB)\r\n"), text
        # Without SIZE, --wait waits for the target set before (already reached here).
        assert berth(env, "vm", "balloon", name, "--wait").stdout == \
            f"VM {name}: balloon target 16 MiB, actual 16 MiB (of 64 MiB)\n"
        # A guest that stops following (console-echo's "balloon hold"): --wait gives up once the
        # actual size has not moved for --timeout seconds, in one line, exit 1.
        console_line(env, name, "balloon hold")
        t0 = time.monotonic()
        p = balloon(env, name, "24M", "--wait", "--timeout", "2", check=False)
        assert p.returncode == 1 and p.stderr == (
            f"berth vm balloon: VM {name}: balloon target 24 MiB, actual 16 MiB (4096 of 6144 pages): "
            "the guest did not follow (no change for 2 s)\n"), p.stderr
        assert 2 <= time.monotonic() - t0 < 20
        assert json.loads(balloon(env, name).stdout)["actual_mib"] == 16
        for args, msg in ((("16M", "--timeout", "2"), "--timeout goes with --wait"),
                          (("16M", "--wait", "--timeout", "0"), "--timeout '0': expected whole seconds"),
                          (("16M", "--wait", "--timeout"), "--timeout needs a value")):
            p = balloon(env, name, *args, check=False)
            assert p.returncode == 125 and msg in p.stderr and p.stderr.count("\n") == 1, (args, p.stderr)
        # Following again, the guest reaches the target set meanwhile (--wait without SIZE).
        console_line(env, name, "balloon follow")
        b = json.loads(balloon(env, name, "--wait", "--timeout", "20").stdout)
        assert (b["target_mib"], b["actual_mib"]) == (24, 24), b
        assert json.loads(balloon(env, name, "16M", "--wait").stdout)["actual_pages"] == 4096
        st = json.loads(berth(env, "vm", "inspect", name).stdout)[0]["balloon_state"]
        assert st["actual_pages"] == 4096 and st["inflated_pages"] == 4096, st
        text = berth(env, "vm", "balloon", name).stdout
        assert text == f"VM {name}: balloon target 16 MiB, actual 16 MiB (of 64 MiB)\n"
        balloon(env, name, "0")
        wait_for(lambda: json.loads(balloon(env, name).stdout)["actual_mib"] == 0, "the balloon never deflated")
        assert json.loads(balloon(env, name).stdout)["inflated_pages"] == 0

        for bad, msg in [("65M", "more than the VM's memory (64 MiB)"), ("1000", "not a whole number of MiB"),
                         ("-16M", "SIZE '-16M': expected a size"), ("lots", "SIZE 'lots': expected a size")]:
            p = balloon(env, name, bad, check=False)
            assert p.returncode != 0 and msg in p.stderr and p.stderr.count("\n") == 1, (bad, p.stderr)
        p = balloon(env, name, "8M", "9M", check=False)
        assert p.returncode == 125 and "unexpected argument '9M'" in p.stderr
        p = balloon(env, plain, "8M", check=False)
        assert p.returncode == 1 and "has no balloon device: create it with 'berth vm create --balloon'" in p.stderr
        berth(env, "vm", "stop", "--force", name)
    finally:
        berth(env, "vm", "rm", "--force", name, plain, check=False)
    run = os.path.join(env["BERTH_RUNTIME_DIR"], "v")
    assert not os.path.isdir(run) or os.listdir(run) == []
