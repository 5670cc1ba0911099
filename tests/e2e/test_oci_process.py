"""runtime-spec process and container attributes, checked from inside with berth-probe: user,
groups, umask, env, cwd, rlimits, oomScoreAdj, capabilities, seccomp, no_new_privs, hostname,
domainname, sysctl, devices, mounts, readonly rootfs, --no-pivot, --preserve-fds, annotations."""
import json
import os
import stat

from ocilib import default_config, oci  # noqa: F401

CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE = 5, 10, 29


def test_user_groups_umask_env_cwd(oci):
    cfg = default_config(["/bin/berth-probe"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 0o027}
    cfg["process"]["env"].append("GREETING=hello world")
    cfg["process"]["cwd"] = "/work/here"
    b = oci.bundle(cfg)
    rep = oci.probe(b)
    assert (rep["uid"], rep["euid"], rep["gid"]) == (1000, 1000, 1001)
    assert sorted(rep["groups"]) == [5, 7]
    assert rep["Umask"] == "0027"
    assert "GREETING=hello world" in rep["env"] and "HOME=/" in rep["env"]
    assert rep["cwd"] == "/work/here"
    # A non-root user keeps no capabilities unless asked (ambient empty).
    assert rep["CapEff"] == "0000000000000000"


def test_capabilities_and_no_new_privs(oci):
    b = oci.bundle()
    rep = oci.probe(b)
    want = (1 << CAP_KILL) | (1 << CAP_NET_BIND_SERVICE) | (1 << CAP_AUDIT_WRITE)
    for k in ("CapEff", "CapPrm", "CapBnd"):
        assert int(rep[k], 16) == want, (k, rep[k])
    assert rep["NoNewPrivs"] == "1"
    cfg = default_config(["/bin/berth-probe"])
    cfg["process"]["noNewPrivileges"] = False
    cfg["process"]["capabilities"]["ambient"] = ["CAP_KILL"]
    cfg["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    (b / "config.json").write_text(json.dumps(cfg))
    rep = oci.probe(b)
    assert rep["NoNewPrivs"] == "0"
    assert int(rep["CapAmb"], 16) == 1 << CAP_KILL


def test_seccomp_filter_applies(oci):
    cfg = default_config(["/bin/berth-probe"])
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    b = oci.bundle(cfg)
    rep = oci.probe(b)
    assert rep["Seccomp"] == "2"
    cfg["process"]["args"] = ["/bin/sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]
    (b / "config.json").write_text(json.dumps(cfg))
    out = oci.ok("run", "--bundle", b, oci.new_id()).stdout
    assert "Operation not permitted" in out and "rc=1" in out


def test_rlimits_and_oom_score_adj(oci):
    cfg = default_config(["/bin/berth-probe"])
    cfg["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
    ]
    cfg["process"]["oomScoreAdj"] = 523
    b = oci.bundle(cfg)
    rep = oci.probe(b)
    assert rep["rlimits"]["RLIMIT_NOFILE"] == [512, 2048]
    assert rep["rlimits"]["RLIMIT_CORE"] == [0, 0]
    assert rep["rlimits"]["RLIMIT_NPROC"] == [300, 400]
    assert rep["oom_score_adj"] == 523


def test_hostname_domainname_sysctl(oci):
    cfg = default_config(["/bin/sh", "-c", "hostname; cat /proc/sys/kernel/domainname; "
                          "cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/shmmni"])
    cfg["hostname"] = "c-host"
    cfg["domainname"] = "c.domain"
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_fwd = f.read()
    b = oci.bundle(cfg)
    out = oci.ok("run", "--bundle", b, oci.new_id()).stdout.split()
    assert out == ["c-host", "c.domain", "1", "1234"]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_fwd


def test_devices_default_and_spec(oci):
    cfg = default_config(["/bin/sh", "-c", "ls -ln /dev/null /dev/zero /dev/full /dev/urandom /dev/tty /dev/fuse; "
                          "readlink /dev/fd; readlink /dev/ptmx; head -c 4 /dev/zero | wc -c"])
    cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                                "fileMode": 0o640, "uid": 12, "gid": 34}]
    b = oci.bundle(cfg)
    out = oci.ok("run", "--bundle", b, oci.new_id()).stdout
    lines = out.splitlines()
    fuse = [line for line in lines if line.endswith("/dev/fuse")][0]
    assert fuse.startswith("crw-r-----") and " 12 " in fuse and " 34 " in fuse and "10," in fuse
    null = [line for line in lines if line.endswith("/dev/null")][0]
    assert null.startswith("crw-rw-rw-") and "1," in null
    assert "/proc/self/fd" in out and "pts/ptmx" in out and lines[-1].strip() == "4"


def test_mount_kinds(oci, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("bound")
    sub = tmp_path / "submnt"
    sub.mkdir()
    cfg = default_config(["/bin/berth-probe"])
    cfg["mounts"] += [
        {"destination": "/ro", "type": "bind", "source": str(src), "options": ["bind", "ro"]},
        {"destination": "/rw", "type": "bind", "source": str(src), "options": ["rbind", "rw", "nosuid", "rprivate"]},
        {"destination": "/one-file", "type": "bind", "source": str(src / "file"), "options": ["bind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "mode=700", "size=2m"]},
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]
    b = oci.bundle(cfg)
    rep = oci.probe(b, "write", "/ro/new", "x")
    assert "Read-only file system" in rep["write"]
    m = {x["target"]: x for x in rep["mounts"]}
    assert m["/ro"]["options"].startswith("ro")
    assert m["/rw"]["options"].startswith("rw") and "nosuid" in m["/rw"]["options"]
    assert m["/scratch"]["fstype"] == "tmpfs" and "size=2048k" in m["/scratch"]["super"]
    assert "mode=700" in m["/scratch"]["super"] and "noexec" in m["/scratch"]["options"]
    assert m["/one-file"]["options"].startswith("ro")
    assert any(t.startswith("/sys/fs/cgroup/") for t in m)
    rep = oci.probe(b, "read", "/one-file")
    assert rep["read"] == "bound"
    # tmpcopyup: the tmpfs over /etc starts with /etc's content.
    rep = oci.probe(b, "read", "/etc/passwd")
    assert rep["read"].startswith("root:x:0:0")
    assert [x for x in rep["mounts"] if x["target"] == "/etc"][0]["fstype"] == "tmpfs"
    rep = oci.probe(b, "write", "/rw/new", "x")
    assert rep["write"] == "ok" and (src / "new").read_text() == "x"
    # Mount targets were created inside the rootfs, nothing on the host.
    assert (b / "rootfs" / "scratch").is_dir() and (b / "rootfs" / "one-file").is_file()


def test_readonly_rootfs_and_no_pivot(oci):
    cfg = default_config(["/bin/berth-probe"])
    cfg["root"]["readonly"] = True
    cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    b = oci.bundle(cfg)
    rep = oci.probe(b, "write", "/etc/x", "x")
    assert "Read-only file system" in rep["write"]
    rep = oci.probe(b, "write", "/tmp/x", "x")
    assert rep["write"] == "ok"
    cid = oci.new_id()
    out = oci.ok("run", "--no-pivot", "--bundle", b, cid).stdout
    rep = json.loads(out)
    assert rep["pid"] == 1 and rep["mounts"]


def test_preserve_fds_and_annotations(oci, tmp_path):
    cfg = default_config(["/bin/berth-probe"])
    cfg["annotations"] = {"org.example.key": "value", "berth.test": "1"}
    b = oci.bundle(cfg)
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, cid)
    assert oci.state(cid)["annotations"] == cfg["annotations"]
    oci.ok("delete", cid)
    with open(tmp_path / "passed", "w") as f:
        fd = f.fileno()
        # The file becomes fd 3 of berth-oci (the parent's fd 3 is left alone).
        p = oci.cmd("run", "--preserve-fds", "1", "--bundle", b, oci.new_id(), pass_fds=(3,),
                    preexec_fn=lambda: os.dup2(fd, 3))
    rep = json.loads(p.stdout)
    assert rep["fds"].get("3", "").endswith("passed"), rep["fds"]


def test_terminal_false_passes_stdio_untouched(oci, tmp_path):
    b = oci.bundle(args=["/bin/sh", "-c", "read line; echo got:$line; echo err >&2"])
    p = oci.cmd("run", "--bundle", b, oci.new_id(), input="ping\n")
    assert p.stdout == "got:ping\n" and p.stderr == "err\n"
    st = os.stat(b / "rootfs" / "bin" / "busybox")
    assert stat.S_ISREG(st.st_mode)


def test_mount_propagation_options(oci, tmp_path):
    src = tmp_path / "prop"
    src.mkdir()
    cfg = default_config(["/bin/cat", "/proc/self/mountinfo"])
    cfg["mounts"] += [
        {"destination": "/shared", "type": "bind", "source": str(src), "options": ["rbind", "rshared"]},
        {"destination": "/private", "type": "bind", "source": str(src), "options": ["rbind", "rprivate"]},
        {"destination": "/unbindable", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]},
    ]
    cfg["linux"]["rootfsPropagation"] = "rprivate"
    b = oci.bundle(cfg)
    out = oci.ok("run", "--bundle", b, oci.new_id()).stdout
    lines = {line.split()[4]: line for line in out.splitlines()}
    assert "shared:" in lines["/shared"].split(" - ")[0]
    assert "shared:" not in lines["/private"].split(" - ")[0] and "master:" not in lines["/private"].split(" - ")[0]
    assert "unbindable" in lines["/unbindable"].split(" - ")[0]
    assert "shared:" not in lines["/"].split(" - ")[0]
