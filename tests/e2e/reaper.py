"""Child-subreaper scope for e2e tests that drive daemons which double-fork (podman's conmon,
containerd's shims): while the scope is open, their orphans are re-parented to the test process
instead of pid 1 (which on these machines reaps late, leaving zombies that keep cgroups busy), and
closing the scope reaps them, so a test can remove its cgroups deterministically."""
import ctypes
import os
import time

PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def set_subreaper(on):
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_all(timeout=15.0):
    """Reaps every child until none is left (or timeout); returns how many were still running."""
    deadline = time.time() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.time() > deadline:
                return len([1 for _ in _children()])
            time.sleep(0.05)


def _children():
    me = str(os.getpid())
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if f.read().rsplit(") ", 1)[1].split()[1] == me:
                        yield int(d)
            except (OSError, IndexError):
                pass
