"""process.terminal: the pty master travels over --console-socket (SCM_RIGHTS), for create/run and
for exec --tty; the container's process has the pty as its controlling terminal."""
import json
import os
import select
import socket
import threading
import time

from ocilib import default_config, oci  # noqa: F401


class ConsoleSocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.master = None
        self.name = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        conn, _ = self.sock.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        self.name = msg.decode()
        self.master = fds[0]
        conn.close()

    def read_until(self, needle, timeout=10):
        self.thread.join(timeout)
        assert self.master is not None, "no pty received"
        out = b""
        deadline = time.time() + timeout
        while needle.encode() not in out and time.time() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    out += os.read(self.master, 4096)
                except OSError:
                    break
        return out.decode(errors="replace")

    def close(self):
        if self.master is not None:
            os.close(self.master)
        self.sock.close()


def test_create_with_terminal_sends_the_pty(oci, tmp_path):
    cfg = default_config(["/bin/sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; echo done"])
    cfg["process"]["terminal"] = True
    cfg["process"]["consoleSize"] = {"height": 40, "width": 132}
    b = oci.bundle(cfg)
    cs = ConsoleSocket(tmp_path / "console.sock")
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, "--console-socket", cs.path, cid)
    oci.ok("start", cid)
    out = cs.read_until("done")
    assert "/dev/pts/0" in out and "stdin-is-tty" in out, out
    assert cs.name.startswith("/dev/pts/")
    cs.close()


def test_exec_tty_and_interactive_input(oci, tmp_path):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    cs = ConsoleSocket(tmp_path / "exec.sock")
    import subprocess
    p = subprocess.Popen([oci.bin, "--root", oci.root, "exec", "--tty", "--console-socket", cs.path, cid,
                          "/bin/sh", "-c", "stty size; read x; echo got-$x"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    cs.thread.join(10)
    assert cs.master is not None
    os.write(cs.master, b"hello\n")
    out = cs.read_until("got-hello")
    assert "got-hello" in out, out
    assert p.wait(timeout=10) == 0
    cs.close()


def test_tty_without_console_socket_is_an_error(oci):
    b = oci.bundle(args=["/bin/sleep", "1000"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    oci.fails("exec", "--tty", "--detach", cid, "/bin/true", contains="--console-socket")
    assert json.loads(oci.ok("ps", "--format", "json", cid).stdout) == [oci.state(cid)["pid"]]


def test_run_tty_in_the_foreground_proxies_the_pty(oci):
    """run with terminal true and no --console-socket: berth-oci copies between its own terminal
    and the container's pty (as runc run -t)."""
    import pty
    import subprocess
    cfg = default_config(["/bin/sh"])
    cfg["process"]["terminal"] = True
    b = oci.bundle(cfg)
    master, slave = pty.openpty()
    cid = oci.new_id()
    p = subprocess.Popen([oci.bin, "--root", oci.root, "run", "--bundle", str(b), cid],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    os.write(master, b"tty; echo sum-$((40+2)); exit 6\n")
    out = b""
    deadline = time.time() + 10
    while b"sum-42" not in out and time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    assert p.wait(timeout=10) == 6
    os.close(master)
    assert b"/dev/pts/0" in out and b"sum-42" in out, out
    assert cid not in oci.list_ids()
