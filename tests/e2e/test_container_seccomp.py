"""berth run's seccomp filter: the default profile denies what it lists with EPERM inside real
containers, capabilities re-allow what they guard, --security-opt seccomp=unconfined removes it,
and a profile file (Docker or OCI format) replaces it."""
import json
import os

import pytest

from conftest import berth




@pytest.fixture
def env(busybox_env):
    return busybox_env


def seccomp_mode(env, *opts):
    out = berth(env, "run", "--rm", *opts, "busybox", "grep", "^Seccomp:", "/proc/self/status").stdout
    return out.split()[1]


def test_default_profile_denies_with_eperm_and_unconfined_allows(env):
    assert seccomp_mode(env) == "2"  # a filter is loaded
    # unshare(CLONE_NEWUSER) needs no capability: only the filter stops it
    p = berth(env, "run", "--rm", "busybox", "unshare", "-U", "true", check=False)
    assert p.returncode == 1 and "Operation not permitted" in p.stderr, p.stderr
    assert seccomp_mode(env, "--security-opt", "seccomp=unconfined") == "0"
    berth(env, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true")
    berth(env, "run", "--rm", "--security-opt", "seccomp:unconfined", "busybox", "unshare", "-U", "true")


def test_capabilities_reallow_what_they_guard(env):
    p = berth(env, "run", "--rm", "busybox", "unshare", "-u", "true", check=False)
    assert p.returncode == 1 and "Operation not permitted" in p.stderr
    out = berth(env, "run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                "unshare -u hostname inner && mount -t tmpfs none /tmp && grep -c ' /tmp tmpfs' /proc/mounts").stdout
    assert out.split() == ["1"]
    # still filtered: the module calls stay denied without CAP_SYS_MODULE
    assert seccomp_mode(env, "--cap-add", "SYS_ADMIN") == "2"


def test_profile_files_docker_and_oci_formats(env, tmp_path):
    docker = tmp_path / "docker.json"
    docker.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            # only for containers holding CAP_SYS_ADMIN: not this one, so rmdir works
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"name": "symlink", "action": "SCMP_ACT_ERRNO", "comment": "older one-name form"},
            {"names": ["symlinkat"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }))
    script = ("mkdir /tmp/d 2>&1; rmdir /proc/nonexistent 2>/dev/null; mkdir -p /x 2>/dev/null; "
              "ln -s a /tmp/l 2>&1; echo done")
    out = berth(env, "run", "--rm", "--security-opt", f"seccomp={docker}", "busybox", "sh", "-c", script).stdout
    assert "Permission denied" in out.splitlines()[0]  # errnoRet 13 (EACCES)
    assert "Operation not permitted" in out.splitlines()[1]  # symlinkat, default errno EPERM
    # the profile replaced the default one: unshare -U now works
    berth(env, "run", "--rm", "--security-opt", f"seccomp={docker}", "busybox", "unshare", "-U", "true")
    oci = tmp_path / "oci.json"
    oci.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    # the profile is kept with the container: it applies on restart after the file is gone
    berth(env, "create", "--name", "kept", "--security-opt", f"seccomp={oci}", "busybox", "sh", "-c",
          "mkdir /tmp/no || echo denied")
    os.unlink(oci)
    berth(env, "start", "kept")
    assert berth(env, "wait", "kept").stdout.strip() == "0"
    logs = berth(env, "logs", "kept")
    assert "denied" in logs.stdout and "Operation not permitted" in logs.stderr


def test_bad_security_opts(env, tmp_path):
    cases = [
        (["--security-opt", "seccomp=/no/such/profile.json"], "/no/such/profile.json"),
        (["--security-opt", "apparmor=unconfined"], "apparmor=unconfined"),
        (["--security-opt", "seccomp="], "seccomp="),
    ]
    notjson = tmp_path / "bad.json"
    notjson.write_text("{not json")
    cases.append((["--security-opt", f"seccomp={notjson}"], str(notjson)))
    badaction = tmp_path / "badaction.json"
    badaction.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                     "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_EXPLODE"}]}))
    cases.append((["--security-opt", f"seccomp={badaction}"], "syscalls[0]"))
    for opts, needle in cases:
        p = berth(env, "run", "--rm", *opts, "busybox", "true", check=False)
        assert p.returncode == 125 and needle in p.stderr, (opts, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_privileged(env, tmp_path):
    host_dev = next(d for d in ("/dev/net/tun", "/dev/loop-control", "/dev/kvm", "/dev/fuse") if os.path.exists(d))
    with open("/proc/self/status") as f:
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    script = (f"grep -E '^(Seccomp|CapEff):' /proc/self/status; test -c {host_dev} && echo has-host-dev; "
              "mount -t tmpfs none /tmp && echo mounted; grep ' /sys ' /proc/mounts | grep -c rw, ; "
              "unshare -U true && echo userns")
    out = berth(env, "run", "--rm", "--privileged", "busybox", "sh", "-c", script).stdout.split("\n")
    assert out[0].split() == ["CapEff:", bounding]  # every capability this host can hand out
    assert out[1].split() == ["Seccomp:", "0"]
    assert out[2:6] == ["has-host-dev", "mounted", "1", "userns"], out
    # without --privileged none of it
    p = berth(env, "run", "--rm", "busybox", "sh", "-c", f"test -e {host_dev} || echo no-dev; "
                                                          "mount -t tmpfs none /tmp 2>/dev/null || echo no-mount")
    assert p.stdout.split() == ["no-dev", "no-mount"]
    # an explicit profile still applies to a privileged container
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    p = berth(env, "run", "--rm", "--privileged", "--security-opt", f"seccomp={prof}", "busybox", "mkdir", "/tmp/x",
              check=False)
    assert p.returncode == 1 and "Operation not permitted" in p.stderr
