"""berth-vmm's console and balloon as a user meets them: typed input reaches the guest (the
console-echo test guest answers each line on the UART and on virtio-console) from stdin, from a
terminal in raw mode (restored afterwards, Ctrl-A x gets the user out) and from the console
socket; everything is appended to --console-log; the balloon is driven over the control socket,
with precise errors for bad requests."""
import json
import os
import pty
import select
import signal
import socket
import subprocess
import termios
import time

import pytest

from conftest import BUILD, binary

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")

ECHO = os.path.join(BUILD, "tests", "guests", "console-echo.pvh")


def read_until(fd, text, timeout=30.0):
    """Reads fd until text shows up; returns everything read."""
    buf = b""
    end = time.monotonic() + timeout
    while text.encode() not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{text!r} not seen in {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"EOF before {text!r} in {buf!r}")
            buf += chunk
    return buf.decode(errors="replace")


def wait_path(path, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "berth-vmm exited"
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_stdin_reaches_uart_and_virtio_console():
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        read_until(p.stdout.fileno(), "console-echo: ready (virtio-console found)")
        p.stdin.write(b"hello berth\n")
        p.stdin.flush()
        out = read_until(p.stdout.fileno(), "uart echo: hello berth")
        out += read_until(p.stdout.fileno(), "hvc echo: hello berth") if "hvc echo: hello berth" not in out else ""
        p.stdin.write(b"exit 3\n")
        p.stdin.flush()
        assert p.wait(timeout=30) == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_terminal_is_raw_then_restored_and_ctrl_a_x_stops_the_vm():
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", ECHO], stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    try:
        read_until(master, "console-echo: ready")
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO, "stdin is not in raw mode"
        # Ctrl-C is a byte for the guest now, not a signal; Ctrl-A Ctrl-A types one Ctrl-A.
        os.write(master, b"ab\x03\x01\x01c\r")
        read_until(master, "uart echo: ab\x03\x01c")
        os.write(master, b"\x01x")
        assert p.wait(timeout=30) == 0
        assert "stopped from the console (Ctrl-A x)" in p.stderr.read().decode()
        assert termios.tcgetattr(slave) == before, "the terminal was not restored"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def test_terminal_restored_when_killed_by_sigterm():
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", ECHO, "--term-grace", "0"], stdin=slave, stdout=slave,
                         stderr=subprocess.DEVNULL)
    try:
        read_until(master, "console-echo: ready")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
        assert termios.tcgetattr(slave) == before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


def api(path, req):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall((json.dumps(req) if not isinstance(req, str) else req).encode() + b"\n")
        f = s.makefile("r")
        return json.loads(f.readline())


def wait_balloon(ctl, pred, timeout=30.0):
    end = time.monotonic() + timeout
    while True:
        b = api(ctl, {"action": "metrics"})["metrics"]["balloon"]
        if pred(b):
            return b
        assert time.monotonic() < end, b
        time.sleep(0.1)


def test_console_socket_log_and_balloon(tmp_path):
    con, log, ctl = str(tmp_path / "con"), str(tmp_path / "console.log"), str(tmp_path / "api")
    with open(log, "w") as f:
        f.write("earlier boot\n")
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", ECHO, "--console", f"socket:{con}", "--console-log", log,
                          "--api-sock", ctl, "--balloon", "--memory", "64"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_path(con, p)
        wait_path(ctl, p)
        c = socket.socket(socket.AF_UNIX)
        c.connect(con)
        c.sendall(b"over the socket\r")
        read_until(c.fileno(), "uart echo: over the socket")
        # A second client takes over; the first one is closed.
        c2 = socket.socket(socket.AF_UNIX)
        c2.connect(con)
        c2.sendall(b"second client\r")
        read_until(c2.fileno(), "hvc echo: second client")
        c.close()

        r = api(ctl, {"action": "balloon", "target_mib": 16})
        assert r["ok"] and r["balloon"]["target_mib"] == 16 and r["balloon"]["target_pages"] == 4096, r
        # The guest's driver inflates: 4096 pages handed back to the host, "actual" follows.
        b = wait_balloon(ctl, lambda b: b["actual_pages"] == 4096)
        assert b["inflated_pages"] == 4096 and b["actual_mib"] == 16, b
        assert b["stats"]["total_memory"] > 32 << 20, b
        r = api(ctl, {"action": "balloon", "target_mib": 0})
        b = wait_balloon(ctl, lambda b: b["actual_pages"] == 0)
        assert b["inflated_pages"] == 0, b
        m = api(ctl, {"action": "metrics"})
        assert m["metrics"]["serial_rx_bytes"] > 0
        for bad, msg in [({"action": "balloon"}, '"target_mib" must be an integer from 0 to 64'),
                         ({"action": "balloon", "target_mib": 65}, "from 0 to 64 (the VM's memory)"),
                         ({"action": "balloon", "target_mib": -1}, "from 0 to 64"),
                         ({"action": "balloon", "target_mib": "8"}, "must be an integer")]:
            r = api(ctl, bad)
            assert not r["ok"] and msg in r["error"], (bad, r)

        c2.sendall(b"exit 4\r")
        assert p.wait(timeout=30) == 9
        c2.close()
        text = open(log).read()
        assert text.startswith("earlier boot\n"), "the log is appended to, not truncated"
        assert "console-echo: ready" in text and "uart echo: over the socket" in text
        assert "hvc echo: second client" in text
        assert "balloon: 4096 pages" in text and "balloon: 0 pages" in text
        assert not os.path.exists(con) and not os.path.exists(ctl)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_balloon_without_device_and_before_start(tmp_path):
    ctl = str(tmp_path / "api")
    p = subprocess.Popen([binary("berth-vmm"), "--api-sock", ctl, "--console", "none"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_path(ctl, p)
        r = api(ctl, {"action": "balloon", "target_mib": 8})
        assert not r["ok"] and r["error"] == "cannot balloon: the VM is not-configured", r
        r = api(ctl, {"action": "configure", "config": {"kernel": ECHO, "memory_mib": 32}})
        assert r["ok"], r
        r = api(ctl, {"action": "start"})
        assert r["ok"], r
        r = api(ctl, {"action": "balloon", "target_mib": 8})
        assert not r["ok"] and "no balloon device (start berth-vmm with --balloon)" in r["error"], r
        r = api(ctl, {"action": "stop"})
        assert r["ok"]
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_bad_console_options():
    r = subprocess.run([binary("berth-vmm"), "--kernel", ECHO, "--console-log", "/nonexistent-dir/x.log"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "console log /nonexistent-dir/x.log" in r.stderr, r.stderr
    r = subprocess.run([binary("berth-vmm"), "--kernel", ECHO, "--console", "socket:"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--console socket: needs a path" in r.stderr, r.stderr


def test_jailed_vm_takes_terminal_input_and_restores_it(tmp_path):
    """Under --jail the child's seccomp filter may refuse terminal ioctls: the parent restores."""
    root = tmp_path / "jail"
    root.mkdir()
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([binary("berth-vmm"), "--kernel", ECHO, "--jail", str(root)], stdin=slave, stdout=slave,
                         stderr=subprocess.PIPE)
    try:
        read_until(master, "console-echo: ready")
        os.write(master, b"jailed\r")
        read_until(master, "uart echo: jailed")
        os.write(master, b"\x01x")
        assert p.wait(timeout=30) == 0
        assert termios.tcgetattr(slave) == before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)
