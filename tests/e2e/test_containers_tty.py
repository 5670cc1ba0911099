"""berth run -i/-t, berth exec -i/-t and berth attach, driven through a real pseudo-terminal as a
user at a terminal would (ptyutil): the container's process has a pty as its controlling
terminal, the user's terminal is raw while attached and restored after, the window size reaches
the container at start and on resize, exit codes come back, detaching leaves the container
running. Each test removes the containers it made by id."""
import json
import os
import signal
import subprocess
import termios
import threading
import time

import pytest

from conftest import berth, binary
from ptyutil import PtyProcess

CTRL_P_CTRL_Q = b"\x10\x11"




def containers(env):
    return json.loads(berth(env, "ps", "-a", "--format", "json").stdout)


@pytest.fixture
def env(busybox_env):
    return busybox_env


@pytest.fixture
def terminals():
    made = []

    def spawn(env, *args, rows=30, cols=100):
        t = PtyProcess([binary("berth"), *args], env, rows=rows, cols=cols)
        made.append(t)
        return t

    yield spawn
    for t in made:
        t.close()


def state(env, name):
    return json.loads(berth(env, "inspect", name).stdout)[0]


def shell_line(t, n, command):
    """Runs a shell command whose output starts with a marker the echoed input does not contain
    (s<n>z: the input has s$((n))z); returns the rest of that output line."""
    t.send(f"echo s$(({n}))z {command}\r")
    t.read_until(f"s{n}z")
    return t.read_until("\n").strip()


def test_run_it_shell_pty_size_exit_code_and_logs(env, terminals):
    t = terminals(env, "run", "-it", "--name", "tty-shell", "busybox", "sh", rows=30, cols=100)
    assert shell_line(t, 1, "$(tty) $(stty size) $TERM") == "/dev/pts/0 30 100 xterm"
    # While attached the user's terminal is raw: keys go to the container's line discipline.
    assert not t.lflag() & termios.ICANON and not t.lflag() & termios.ECHO
    t.set_size(41, 123)  # SIGWINCH to berth, which resizes the container's pty
    deadline = time.time() + 10
    size = ""
    n = 2
    while size != "41 123" and time.time() < deadline:
        size = shell_line(t, n, "$(stty size)")
        n += 1
    assert size == "41 123"
    t.send("[ -t 0 ] && [ -t 1 ] && echo both-$((40+2))\r")
    t.read_until("both-42")
    t.send("exit 7\r")
    assert t.wait() == 7
    assert t.restored(), "the terminal was left in raw mode"
    info = state(env, "tty-shell")
    assert info["state"] == "exited" and info["exit_code"] == 7
    # Everything the user saw went to the log too.
    logs = berth(env, "logs", "tty-shell").stdout
    assert "both-42" in logs and "/dev/pts/0 30 100" in logs
    berth(env, "rm", info["id"])


def test_run_t_without_input_and_rm(env, terminals):
    # -t alone: a pty, no input; stdin need not be a terminal.
    p = berth(env, "run", "--rm", "-t", "busybox", "sh", "-c", "tty; [ -t 0 ] && echo in-tty; exit 3",
              check=False, input="ignored\n")
    assert p.returncode == 3, p.stderr
    assert p.stdout.replace("\r\n", "\n") == "/dev/pts/0\nin-tty\n"
    # -it --rm through a terminal: exit code back, container removed by the time berth run returns.
    t = terminals(env, "run", "-it", "--rm", "busybox", "sh", "-c", "read line; echo got-$line; exit 4")
    t.send("hello\r")
    t.read_until("got-hello")
    assert t.wait() == 4
    assert t.restored()
    assert containers(env) == []


def test_run_i_pipes_stdin(env):
    p = berth(env, "run", "--rm", "-i", "busybox", "cat", input="hi\nthere\n")
    assert p.stdout == "hi\nthere\n"
    p = berth(env, "run", "--rm", "-i", "busybox", "sh", "-c", "wc -l; echo oops >&2; exit 5",
              input="a\nb\nc\n", check=False)
    assert p.returncode == 5
    assert p.stdout.strip() == "3" and p.stderr == "oops\n"
    # Without -i the container's stdin is empty whatever berth's is.
    p = berth(env, "run", "--rm", "busybox", "cat", input="not-read\n")
    assert p.stdout == ""
    assert containers(env) == []


def test_it_needs_a_terminal_on_stdin(env):
    p = berth(env, "run", "-it", "busybox", "sh", input="echo hi\n", check=False)
    assert p.returncode == 1 and "the input device is not a TTY" in p.stderr
    assert containers(env) == []  # nothing created
    p = berth(env, "run", "-it", "--detach-keys", "ctrl-1", "busybox", "sh", check=False)
    assert p.returncode == 125 and "--detach-keys" in p.stderr and "ctrl-1" in p.stderr
    assert containers(env) == []


def test_detach_and_attach_again(env, terminals):
    cid = berth(env, "run", "-d", "-it", "--name", "tty-bg", "busybox", "sh").stdout.strip()
    t = terminals(env, "attach", "tty-bg", rows=25, cols=90)
    time.sleep(0.3)
    assert shell_line(t, 1, "$(stty size)") == "25 90"  # attach resizes the pty to its terminal
    assert not t.lflag() & termios.ICANON
    # The monitor keeps the pty and serves the client within the 1 MiB.
    with open(f"/proc/{state(env, cid)['monitor_pid']}/status") as f:
        rss = int(next(line for line in f if line.startswith("VmRSS")).split()[1])
    assert rss < 1024, f"berth-monitor RSS {rss} KiB"
    t.send(CTRL_P_CTRL_Q)
    assert t.wait() == 0
    assert t.restored()
    assert state(env, cid)["state"] == "running"  # the client went, the container stays
    # The shell's state survives between attachments; custom detach keys.
    t = terminals(env, "attach", "--detach-keys", "ctrl-x,x", cid)
    time.sleep(0.3)
    t.send("V=kept\r")
    assert shell_line(t, 2, "$V") == "kept"
    t.send(b"\x18x")
    assert t.wait() == 0 and t.restored()
    assert state(env, cid)["state"] == "running"
    # A client killed outright changes nothing either.
    t = terminals(env, "attach", cid)
    time.sleep(0.3)
    t.proc.kill()
    t.proc.wait()
    assert state(env, cid)["state"] == "running"
    # Detach from berth run -it itself, then attach and leave with an exit code.
    t = terminals(env, "run", "-it", "--name", "tty-run", "busybox", "sh")
    assert shell_line(t, 3, "up") == "up"
    t.send(CTRL_P_CTRL_Q)
    assert t.wait() == 0 and t.restored()
    assert state(env, "tty-run")["state"] == "running"
    t = terminals(env, "attach", "tty-run")
    time.sleep(0.3)
    t.send("exit 6\r")
    assert t.wait() == 6 and t.restored()
    assert state(env, "tty-run")["state"] == "exited"
    berth(env, "rm", "-f", cid, state(env, "tty-run")["id"])


def test_attach_output_and_input_of_a_detached_i_container(env):
    cid = berth(env, "run", "-d", "-i", "busybox", "sh", "-c", "read a; echo first-$a; read b; echo second-$b").stdout.strip()
    p = berth(env, "attach", cid, input="one\ntwo\n", check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "first-one\nsecond-two\n"
    assert state(env, cid)["state"] == "exited"
    p = berth(env, "attach", cid, check=False)
    assert p.returncode == 125 and "not running" in p.stderr
    p = berth(env, "attach", "no-such-container", check=False)
    assert p.returncode == 125
    berth(env, "rm", cid)


def test_exec_it_and_i(env, terminals):
    cid = berth(env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    t = terminals(env, "exec", "-it", cid, "sh", rows=33, cols=77)
    line = shell_line(t, 1, "$(tty) $(stty size)")
    assert line.startswith("/dev/pts/") and line.endswith(" 33 77"), line
    assert not t.lflag() & termios.ICANON
    t.set_size(44, 88)
    deadline = time.time() + 10
    size, n = "", 2
    while size != "44 88" and time.time() < deadline:
        size = shell_line(t, n, "$(stty size)")
        n += 1
    assert size == "44 88"
    t.send("exit 9\r")
    assert t.wait() == 9
    assert t.restored()
    assert berth(env, "exec", "-i", cid, "cat", input="piped\n").stdout == "piped\n"
    assert berth(env, "exec", cid, "cat", input="not-read\n").stdout == ""
    p = berth(env, "exec", "-t", cid, "sh", "-c", "tty >/dev/null && echo has-tty; exit 2", check=False)
    assert p.returncode == 2 and "has-tty" in p.stdout
    p = berth(env, "exec", "-it", cid, "sh", input="", check=False)
    assert p.returncode == 1 and "the input device is not a TTY" in p.stderr
    berth(env, "rm", "-f", cid)


def exec_monitors(cid):
    """The berth-monitor processes (berth exec -it's, --client) whose exec'd child is in container
    cid (its cgroup path names the container)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            if not args[0].endswith(b"berth-monitor") or b"--client" not in args:
                continue
            child = args[args.index(b"--pid") + 1].decode()
            with open(f"/proc/{child}/cgroup") as f:
                if cid in f.read():
                    found.append(int(pid))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ticks(env, cid, path):
    return int(berth(env, "exec", cid, "sh", "-c", f"wc -l < {path}").stdout.strip() or 0)


def grows(env, cid, path):
    first = ticks(env, cid, path)
    deadline = time.time() + 10
    while ticks(env, cid, path) <= first:
        assert time.time() < deadline, f"{path} stopped growing: the exec'd process is gone"
        time.sleep(0.2)
    return True


def test_exec_it_detach_keys(env, terminals):
    assert "--detach-keys KEYS" in berth(env, "exec", "--help").stdout
    cid = berth(env, "run", "-d", "busybox", "sleep", "1000").stdout.strip()
    # ctrl-p ctrl-q leaves an interactive shell's loop running; the client exits 0, terminal restored.
    t = terminals(env, "exec", "-it", cid, "sh")
    assert shell_line(t, 1, "$(tty)").startswith("/dev/pts/")
    t.send("while :; do echo x >> /tmp/ticks; sleep 0.1; done\r")
    time.sleep(0.3)
    t.send(CTRL_P_CTRL_Q)
    assert t.wait() == 0
    assert t.restored(), "the terminal was left in raw mode"
    assert grows(env, cid, "/tmp/ticks")
    assert len(exec_monitors(cid)) == 1  # the process keeps its pty under its own monitor
    # Custom keys: ctrl-p ctrl-q are now data, ctrl-x detaches.
    t = terminals(env, "exec", "-it", "--detach-keys", "ctrl-x", cid, "sh", "-c",
                  "echo up-$((1+1)); while :; do echo y >> /tmp/other; sleep 0.1; done")
    t.read_until("up-2")
    t.send(CTRL_P_CTRL_Q)
    time.sleep(0.5)
    assert t.proc.poll() is None, "ctrl-p ctrl-q detached although --detach-keys ctrl-x was given"
    t.send(b"\x18")
    assert t.wait() == 0 and t.restored()
    assert grows(env, cid, "/tmp/other")
    monitors = exec_monitors(cid)
    assert len(monitors) == 2
    # Attached to the end, the status comes back and signals reach the process.
    t = terminals(env, "exec", "-it", cid, "sh", "-c", "trap 'echo got-term; exit 9' TERM; echo ready; "
                  "while :; do sleep 0.1; done")
    t.read_until("ready")
    t.proc.send_signal(signal.SIGTERM)
    t.read_until("got-term")
    assert t.wait() == 9 and t.restored()
    p = berth(env, "exec", "-i", "--detach-keys", "ctrl-1", cid, "true", check=False)
    assert p.returncode == 125 and "--detach-keys" in p.stderr and "ctrl-1" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    # The container's end ends the detached processes and their monitors.
    berth(env, "rm", "-f", cid)
    deadline = time.time() + 10
    while any(alive(pid) for pid in monitors):
        assert time.time() < deadline, "berth exec's monitors outlived the container"
        time.sleep(0.2)


def test_run_i_binary_data_with_backpressure(env):
    # Piped input is data: ctrl-p ctrl-q in it do not detach (no pty); nothing is lost when the
    # container reads slowly or our reader is slow (the monitor waits instead of dropping).
    data = os.urandom(3 << 20) + CTRL_P_CTRL_Q + os.urandom(1000)
    p = subprocess.run([binary("berth"), "run", "--rm", "-i", "busybox", "sh", "-c", "sleep 2; cat"], env=env,
                       input=data, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data
    proc = subprocess.Popen([binary("berth"), "run", "--rm", "-i", "busybox", "cat"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    threading.Thread(target=lambda: (proc.stdin.write(data), proc.stdin.close()), daemon=True).start()
    time.sleep(2)  # a slow reader: the container's output waits for us
    out = proc.stdout.read()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert out == data
    assert containers(env) == []


def test_start_attached(env, terminals):
    cid = berth(env, "create", "-i", "busybox", "sh", "-c", "read x; echo got-$x; echo to-err >&2; exit 3").stdout.strip()
    p = berth(env, "start", "-ai", cid, input="abc\n", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "got-abc\n", "to-err\n")
    # Exited containers start again.
    p = berth(env, "start", "-ai", cid, input="again\n", check=False)
    assert (p.returncode, p.stdout) == (3, "got-again\n")
    # -a alone: the output and the status, no input (a container without -i reads /dev/null).
    nid = berth(env, "create", "busybox", "sh", "-c", "read x; echo got-$x; exit 2").stdout.strip()
    p = berth(env, "start", "-a", nid, input="ignored\n", check=False)
    assert (p.returncode, p.stdout) == (2, "got-\n")
    tid = berth(env, "create", "-it", "busybox", "sh").stdout.strip()
    t = terminals(env, "start", "-ai", tid, rows=22, cols=66)
    assert shell_line(t, 1, "$(tty) $(stty size)") == "/dev/pts/0 22 66"
    t.send("exit 8\r")
    assert t.wait() == 8 and t.restored()
    p = berth(env, "start", "-a", cid, tid, check=False)
    assert p.returncode == 125 and "exactly one" in p.stderr
    berth(env, "rm", cid, tid, nid)


def test_signals_reach_the_container_and_the_terminal_is_restored(env, terminals):
    script = "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done"
    t = terminals(env, "run", "-it", "--rm", "busybox", "sh", "-c", script)
    t.read_until("ready")
    assert not t.lflag() & termios.ICANON
    t.proc.send_signal(signal.SIGTERM)  # to berth: forwarded, the session goes on to the exit
    t.read_until("got-term")
    assert t.wait() == 9
    assert t.restored()
    proc = subprocess.Popen([binary("berth"), "run", "--rm", "-i", "busybox", "sh", "-c", script], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 9
    assert proc.stdout.read() == "got-term\n"
    assert containers(env) == []
