"""linux.seccomp.listenerPath: with SCMP_ACT_NOTIFY rules, berth-oci hands the seccomp notify fd of
the container's process to an agent listening on a UNIX socket, with the runtime-spec's container
process state. A small agent here receives the fd, checks the state, and answers the container's
mkdir with EXDEV, which the container then reports."""
import array
import fcntl
import json
import os
import socket
import struct
import threading

from ocilib import default_config, oci  # noqa: F401

# linux/seccomp.h (x86_64): struct seccomp_notif is 80 bytes, seccomp_notif_resp 24.
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
NOTIF = struct.Struct("=QII iIQ6Q")  # id, pid, flags, data{nr, arch, ip, args[6]}
RESP = struct.Struct("=QqiI")        # id, val, error, flags
SYS_MKDIR, SYS_MKDIRAT = 83, 258
EXDEV = 18


class Agent:
    """Listens on path; for every connection keeps the container process state it was sent and
    answers each notification on the received fd with -EXDEV, recording the syscall numbers."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.states, self.nfds, self.syscalls, self.errors = [], [], [], []
        self.got_state = threading.Condition()
        self.stop = False
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()

    def accept_loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self.serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def serve(self, conn):
        try:
            with conn:
                conn.settimeout(10)
                fds = array.array("i")
                msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
                for level, typ, payload in anc:
                    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                data = msg
                while True:  # one state per connection, then the runtime closes it
                    more = conn.recv(65536)
                    if not more:
                        break
                    data += more
            for extra in fds[1:]:
                os.close(extra)
            with self.got_state:
                self.states.append(json.loads(data))
                self.nfds.append(len(fds))
                self.got_state.notify_all()
            if fds:
                self.answer(fds[0])
        except Exception as e:  # reported by the test
            self.errors.append(e)

    def answer(self, notify_fd):
        try:
            while True:
                buf = bytearray(NOTIF.size)
                try:
                    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
                except OSError:
                    return  # every process under this filter is gone
                nid, _pid, _flags, nr = NOTIF.unpack(bytes(buf))[:4]
                self.syscalls.append(nr)
                try:
                    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(RESP.pack(nid, 0, -EXDEV, 0)))
                except OSError:
                    pass  # the caller died meanwhile
        finally:
            os.close(notify_fd)

    def wait_states(self, n, timeout=10):
        with self.got_state:
            self.got_state.wait_for(lambda: len(self.states) >= n, timeout=timeout)
        return self.states

    def close(self):
        self.stop = True
        self.sock.close()
        self.threads[0].join(timeout=5)


def notify_config(args, listener, metadata="agent-metadata"):
    cfg = default_config(args)
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": metadata,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    cfg["annotations"] = {"org.example.notify": "yes"}
    return cfg


def test_notify_fd_goes_to_listener_which_answers(oci, tmp_path):
    listener = str(tmp_path / "agent.sock")
    agent = Agent(listener)
    try:
        cfg = notify_config(["/bin/sh", "-c", "mkdir /tmp/made"], listener)
        b = oci.bundle(cfg)
        cid = oci.new_id()
        pidfile = tmp_path / "init.pid"
        oci.ok("create", "--bundle", b, "--pid-file", pidfile, cid)
        # The state reached the agent during create, as the runtime-spec describes it.
        states = agent.wait_states(1)
        assert not agent.errors, agent.errors
        assert len(states) == 1 and agent.nfds == [1], (states, agent.nfds)
        st = states[0]
        assert st["fds"] == ["seccompFd"] and st["metadata"] == "agent-metadata", st
        assert st["pid"] == int(pidfile.read_text()) == st["state"]["pid"], st
        assert st["state"]["id"] == cid and st["state"]["status"] == "creating", st
        assert st["state"]["bundle"] == str(b) and st["state"]["annotations"] == {"org.example.notify": "yes"}, st
        # The runtime's own setup after loading the filter never waited for the agent.
        assert agent.syscalls == []
        pid = int(pidfile.read_text())
        oci.ok("start", cid)
        for _ in range(400):
            if oci.state(cid)["status"] == "stopped":
                break
            threading.Event().wait(0.05)
        assert oci.state(cid)["status"] == "stopped"
        assert set(agent.syscalls) & {SYS_MKDIR, SYS_MKDIRAT}, agent.syscalls
        assert not (b / "rootfs" / "tmp" / "made").exists(), "mkdir was not stopped by the agent"
        assert pid > 0
        oci.ok("delete", "--force", cid)
    finally:
        agent.close()
    assert not agent.errors, agent.errors


def test_notify_answer_reaches_the_program(oci, tmp_path):
    """run (foreground): the program sees the agent's EXDEV as mkdir's error."""
    listener = str(tmp_path / "agent.sock")
    agent = Agent(listener)
    try:
        b = oci.bundle(notify_config(["/bin/sh", "-c", "mkdir /tmp/made 2>&1; echo rc=$?"], listener))
        cid = oci.new_id()
        p = oci.ok("run", "--bundle", b, cid)
        assert "rc=1" in p.stdout and "cross-device" in p.stdout, p.stdout
        assert not (b / "rootfs" / "tmp" / "made").exists()
        assert agent.wait_states(1)[0]["state"]["id"] == cid
    finally:
        agent.close()
    assert not agent.errors, agent.errors


def test_notify_for_exec_process(oci, tmp_path):
    """exec: the exec'd process's notify fd goes to the same agent, with status running."""
    listener = str(tmp_path / "agent.sock")
    agent = Agent(listener)
    try:
        b = oci.bundle(notify_config(["/bin/sleep", "1000"], listener))
        cid = oci.new_id()
        oci.ok("run", "-d", "--bundle", b, cid)
        p = oci.ok("exec", cid, "/bin/sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?")
        assert "rc=1" in p.stdout and "cross-device" in p.stdout, p.stdout
        states = agent.wait_states(2)
        assert [s["state"]["status"] for s in states] == ["creating", "running"], states
        # pid: the exec'd process; state.pid: the container's init.
        assert states[1]["pid"] != states[0]["pid"] == states[1]["state"]["pid"], states
        assert states[1]["state"]["id"] == cid
        oci.ok("delete", "--force", cid)
    finally:
        agent.close()
    assert not agent.errors, agent.errors


def test_listener_missing_fails_create_cleanly(oci, tmp_path):
    cfg = notify_config(["/bin/true"], str(tmp_path / "nobody-listens.sock"))
    b = oci.bundle(cfg)
    cid = oci.new_id()
    line = oci.fails("create", "--bundle", b, cid, contains="linux.seccomp.listenerPath: connecting to")
    assert "nobody-listens.sock" in line
    assert cid not in oci.list_ids()
    assert not any(os.path.exists(f"/sys/fs/cgroup/{c}/berth/{cid}") for c in ("pids", "memory", "freezer"))


def test_notify_without_listener_path_is_refused(oci):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    b = oci.bundle(cfg)
    oci.fails("create", "--bundle", b, oci.new_id(), contains="SCMP_ACT_NOTIFY needs listenerPath")
