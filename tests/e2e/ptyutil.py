"""Drive a program through a real pseudo-terminal, as a user at a terminal would: the pty is the
program's controlling terminal (so window size changes reach it as SIGWINCH), we type into the
master and read what the program shows."""
import fcntl
import os
import select
import struct
import subprocess
import termios
import time


class PtyProcess:
    def __init__(self, args, env, rows=30, cols=100):
        self.master, self.slave = os.openpty()
        self.set_size(rows, cols)
        self.saved = termios.tcgetattr(self.slave)
        slave = self.slave

        def ctty():
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(args, env=env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty,
                                     close_fds=True)
        self.out = b""
        self.pos = 0

    def set_size(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def read_until(self, needle, timeout=20):
        """Reads until needle shows up after what earlier calls consumed; returns the text up to and
        including it (the rest stays for the next call)."""
        deadline = time.time() + timeout
        while self.out.find(needle.encode(), self.pos) < 0:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got {self.out[self.pos:]!r}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"pty closed waiting for {needle!r}; got {self.out[self.pos:]!r}")
                self.out += chunk
        end = self.out.find(needle.encode(), self.pos) + len(needle)
        text = self.out[self.pos:end]
        self.pos = end
        return text.decode(errors="replace")

    def wait(self, timeout=20):
        """Waits for the program, draining its output meanwhile; returns its exit code."""
        deadline = time.time() + timeout
        while self.proc.poll() is None:
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError(f"still running; output {self.out[-500:]!r}")
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    pass
        return self.proc.returncode

    def lflag(self):
        return termios.tcgetattr(self.slave)[3]

    def restored(self):
        return termios.tcgetattr(self.slave) == self.saved

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
