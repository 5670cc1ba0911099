"""Helpers for berth's network e2e tests. Everything happens inside a network namespace the test
creates (`ip netns add`) and deletes: berth itself runs in it (`ip netns exec`), and "workloads"
are busybox processes in child network namespaces (`unshare -n`), plumbed with the same library
hooks `berth run` and `berth vm` call (exposed as `berth network attach|attach-vm|detach`)."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

from conftest import binary


class PrivateNetns:
    def __init__(self, env):
        self.name = "berth-e2e-" + uuid.uuid4().hex[:10]
        self.env = env
        self.procs = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            # The fixture never yields when this fails: delete the namespace here.
            subprocess.run(["ip", "netns", "del", self.name], check=False)
            raise

    def run(self, *argv, check=True, timeout=60, input=None):
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], env=self.env, capture_output=True,
                              text=True, check=check, timeout=timeout, input=input)

    def ip(self, *args):
        return self.run("ip", *args).stdout

    def berth(self, *args, check=True, timeout=60):
        p = self.run(binary("berth"), *args, check=False, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p

    def berth_json(self, *args):
        return json.loads(self.berth(*args, "--format", "json").stdout)

    def spawn(self, *argv):
        """A workload: a process in new network and mount namespaces below ours. (The host's
        busybox, not a chroot: static glibc cannot load its NSS modules inside a busybox rootfs, so
        name lookups of wget would fail there; use_etc() gives it the container's /etc files.)"""
        cmd = ["ip", "netns", "exec", self.name, "unshare", "-n", "-m", "--propagation", "private", "--"]
        p = subprocess.Popen(cmd + list(argv), env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        # ip netns exec, unshare and chroot exec in place: p.pid is the workload once it runs there.
        me = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            try:
                if os.readlink(f"/proc/{p.pid}/ns/net") != me and os.readlink(f"/proc/{p.pid}/exe").endswith("busybox"):
                    return p
            except OSError:
                pass
            time.sleep(0.01)
        raise AssertionError(f"workload {argv} did not start")

    def use_etc(self, proc, rootfs):
        """Bind-mounts rootfs/etc/{hosts,resolv.conf} (as berth wrote them) over the workload's."""
        for f in ("hosts", "resolv.conf"):
            subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "--", "mount", "--bind", f"{rootfs}/etc/{f}",
                            f"/etc/{f}"], check=True)

    def inside(self, proc, *argv, timeout=20):
        """Runs argv in proc's network and mount namespaces."""
        return subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "-m", "--", *argv], capture_output=True,
                              text=True, timeout=timeout)

    def links(self, prefix):
        out = self.ip("-o", "link", "show")
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n.startswith(prefix)]

    def ruleset(self):
        return self.run("nft", "list", "ruleset").stdout

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # Whatever berth left running in the namespace (the DNS resolvers): by pid, then the netns.
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        for pid in out.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(f"/etc/netns/{self.name}", ignore_errors=True)

    def set_resolv_conf(self, text):
        """`ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: the
        host resolvers berth's DNS forwards to, as seen inside this namespace."""
        os.makedirs(f"/etc/netns/{self.name}", exist_ok=True)
        with open(f"/etc/netns/{self.name}/resolv.conf", "w") as f:
            f.write(text)


def make_rootfs(busybox_rootfs, tmp_path, name, index_text=None):
    """A copy of the busybox rootfs: berth writes its etc/ files, httpd serves its var/www."""
    d = tmp_path / name
    shutil.copytree(busybox_rootfs, d, symlinks=True)
    if index_text is not None:
        (d / "var/www").mkdir(parents=True, exist_ok=True)
        (d / "var/www/index.html").write_text(index_text)
    return str(d)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ContainerNetns(PrivateNetns):
    """berth joins only the test's network namespace (nsenter --net): `ip netns exec` would also
    mount a fresh /sys there, hiding the cgroup hierarchy containers need."""

    def berth(self, *args, check=True, timeout=60):
        p = subprocess.run(["nsenter", f"--net=/run/netns/{self.name}", binary("berth"), *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p


def container_netns(env, busybox_rootfs):
    """The body of a pytest fixture (`yield from container_netns(...)`): a ContainerNetns with the
    busybox image imported; afterwards every VM and container made in it is removed by id and the
    namespace deleted, on every path (an import that fails, a listing that fails)."""
    n = ContainerNetns(env)
    try:
        n.berth("image", "import", "--rootfs", busybox_rootfs, "busybox")
        yield n
    finally:
        try:
            for kind, rm in ((["vm", "ls"], ["vm", "rm", "--force"]), (["ps", "-a"], ["rm", "-f"])):
                p = n.berth(*kind, "--format", "json", check=False)
                ids = [w["id"] for w in json.loads(p.stdout or "[]")] if p.returncode == 0 else []
                if ids:
                    n.berth(*rm, *ids, check=False, timeout=600)
        finally:
            n.close()
