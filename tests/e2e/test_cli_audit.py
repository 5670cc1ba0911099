"""The berth CLI as a demanding user meets it: --help everywhere (and never acting), one clear line
and a non-zero status for bad input, docker's exit codes and listing options. Each test drives the
real binary and checks what a user would see."""
import json
import os

from conftest import berth


def one_line_error(p, status, *words):
    assert p.returncode == status, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_container_prune_help_does_not_prune(busybox_env):
    env = busybox_env
    cid = berth(env, "create", "--name", "keepme", "busybox", "true").stdout.strip()
    for args in (["container", "prune", "--help"], ["container", "prune", "-h"]):
        p = berth(env, *args)
        assert p.stdout.startswith("Usage: berth container prune"), p.stdout
    p = berth(env, "container", "prune", "--bogus", check=False)
    one_line_error(p, 125, "berth container prune", "'--bogus'")
    p = berth(env, "container", check=False)
    one_line_error(p, 125, "berth container", "prune")
    assert berth(env, "inspect", "keepme").stdout  # still there
    # docker's `container prune -f` is accepted, and prunes.
    assert berth(env, "container", "prune", "-f").stdout.split() == [cid]
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_vm_template_help_and_bad_input(berth_env):
    env = berth_env
    for sub in ("create", "ls", "rm"):
        for flag in ("--help", "-h"):
            p = berth(env, "vm", "template", sub, flag)
            assert p.stdout.startswith("Usage: berth vm template"), (sub, p.stdout)
    cases = [
        (["vm", "template"], "a subcommand is needed"),
        (["vm"], "a command is needed"),
        (["vm", "template", "ls", "-q"], "unknown option '-q'"),
        (["vm", "template", "ls", "--format"], "--format needs a value"),
        (["vm", "template", "create", "t1", "--from"], "--from needs a value"),
        (["vm", "template", "create", "t1", "t2", "--image", "busybox"], "one template name only"),
        (["vm", "template", "rm", "--force", "t1"], "unknown option '--force'"),
    ]
    for args, msg in cases:
        one_line_error(berth(env, *args, check=False), 125, msg)
    assert json.loads(berth(env, "vm", "template", "ls", "--format=json").stdout) == []
    assert not os.path.exists(os.path.join(env["BERTH_ROOT"], "templates", "t1.qcow2"))


def test_group_verbs_alone_say_what_is_missing(berth_env):
    """`berth image` & co. without a subcommand: one line naming what is missing, not the usage."""
    for group in ([], ["image"], ["disk"], ["registry"], ["kernel"], ["container"], ["vm"]):
        p = berth(berth_env, *group, check=False)
        one_line_error(p, 125, "is needed", "--help")
        assert p.stdout == ""
        p = berth(berth_env, *group, "--help")
        assert p.stdout.startswith("Usage: berth"), (group, p.stdout)
    # The list users read shows their commands only (container-exited is berth-monitor's hook).
    assert "container-exited" not in berth(berth_env, "--help").stdout


def test_run_and_exec_exit_codes_follow_docker(busybox_env):
    """127 not found, 126 found but not executable, 125 berth's own error; the same for exec."""
    env = busybox_env
    berth(env, "run", "-d", "--name", "codes", "busybox", "sleep", "600")
    for cmd, status in (("/nonexistent", 127), ("nosuchcmd", 127), ("/etc/passwd", 126), ("/etc", 126)):
        p = berth(env, "run", "--rm", "busybox", cmd, check=False)
        one_line_error(p, status, "berth run:", cmd)
        p = berth(env, "exec", "codes", cmd, check=False)
        one_line_error(p, status, "berth exec:", cmd)
    # berth's own errors on exec: a bad option value, a container that is not running.
    one_line_error(berth(env, "exec", "-u", "nosuchuser", "codes", "id", check=False), 125, "nosuchuser")
    berth(env, "create", "--name", "idle", "busybox", "true")
    one_line_error(berth(env, "exec", "idle", "true", check=False), 125, "not running")
    # Nothing is left of the runs that failed to start.
    names = {c["name"] for c in json.loads(berth(env, "ps", "-a", "--format", "json").stdout)}
    assert names == {"codes", "idle"}


def test_exec_user_names_and_env_from_berth(busybox_env):
    env = busybox_env
    berth(env, "run", "-d", "--name", "ex", "busybox", "sleep", "600")
    assert berth(env, "exec", "-u", "nobody", "ex", "id").stdout.startswith("uid=65534(nobody) gid=65534(")
    assert berth(env, "exec", "-u", "nobody:root", "ex", "id", "-g").stdout.strip() == "0"
    assert berth(env, "exec", "-u", "5:6", "ex", "id", "-u").stdout.strip() == "5"
    # -e KEY takes berth's own value, and is left out when berth has none (docker exec, berth run).
    out = berth(dict(env, AUDIT_SET="from-host"), "exec", "-e", "AUDIT_SET", "-e", "AUDIT_UNSET", "-eK=v", "ex",
                "env").stdout.splitlines()
    assert "AUDIT_SET=from-host" in out and "K=v" in out
    assert not any(line.startswith("AUDIT_UNSET") for line in out)


BAD_OPTIONS = [
    (["build", "--bogus", "."], "berth build: unknown option '--bogus'"),
    (["build", "-f"], "berth build: -f needs a value"),
    (["images", "-z"], "berth images: unknown option '-z'"),
    (["image", "import", "--bogus", "x"], "berth image import: unknown option '--bogus'"),
    (["pull", "--bogus", "x"], "berth pull: unknown option '--bogus'"),
    (["push", "--bogus", "x", "y"], "berth push: unknown option '--bogus'"),
    (["login", "--bogus", "h"], "berth login: unknown option '--bogus'"),
    (["kernel", "prepare", "--bogus"], "berth kernel prepare: unknown option '--bogus'"),
    (["registry", "serve", "--bogus"], "berth registry serve: unknown option '--bogus'"),
    (["registry", "gc", "--bogus"], "berth registry gc: unknown option '--bogus'"),
    (["version", "--bogus"], "berth version: unknown option '--bogus'"),
    (["vm", "ls", "-z"], "berth vm ls: unknown option '-z'"),
    (["vm", "logs", "--tail"], "berth vm logs: --tail needs a value"),
    (["vm", "stop", "--bogus", "x"], "berth vm stop: unknown option '--bogus'"),
    (["disk", "create", "-b"], "berth disk create: -b needs a value"),
    (["disk", "info", "--bogus", "x"], "berth disk info: unknown option '--bogus'"),
    (["run", "--memory"], "berth run: --memory needs a value"),
    (["run", "-dz", "busybox"], "berth run: unknown option '-z'"),
    (["create", "--rm=1", "busybox"], "berth create: '--rm=1': the option takes no value"),
]


def test_bad_options_are_one_line_naming_berth_and_the_option(berth_env):
    """Not glibc's "ls: invalid option -- 'q'" (which names no berth verb), nor the whole usage."""
    for args, msg in BAD_OPTIONS:
        p = berth(berth_env, *args, check=False)
        one_line_error(p, 125, msg)
    assert json.loads(berth(berth_env, "ps", "-a", "--format", "json").stdout) == []


def test_ps_quiet_and_no_trunc_as_docker(busybox_env):
    env = busybox_env
    up = berth(env, "run", "-d", "--name", "up", "busybox", "sleep", "600").stdout.strip()
    done = berth(env, "create", "--name", "done", "busybox", "true").stdout.strip()
    assert berth(env, "ps", "-q").stdout.split() == [up[:12]]
    for flags in (["-aq"], ["-qa"], ["-a", "--quiet"]):
        assert sorted(berth(env, "ps", *flags).stdout.split()) == sorted([up[:12], done[:12]]), flags
    assert berth(env, "ps", "-q", "--no-trunc").stdout.split() == [up]
    rows = berth(env, "ps", "--no-trunc").stdout.splitlines()
    assert rows[0].startswith("CONTAINER ID") and rows[1].startswith(up + " ")
    assert [c["id"] for c in json.loads(berth(env, "ps", "--format=json").stdout)] == [up]
    assert berth(env, "ps", "-h").stdout.startswith("Usage: berth ps")
    one_line_error(berth(env, "ps", "--format", check=False), 125, "--format needs a value")
    one_line_error(berth(env, "ps", "-x", check=False), 125, "unknown option '-x'")
    one_line_error(berth(env, "ps", "extra", check=False), 125, "unknown argument 'extra'")
    # -h is help for the verbs where docker has it so (not run/create, where it is --hostname).
    for verb in ("attach", "exec", "inspect", "kill", "logs", "rm", "start", "stats", "stop", "top", "wait"):
        assert berth(env, verb, "-h").stdout.startswith(f"Usage: berth {verb}"), verb


def test_registry_serve_says_why_it_cannot_listen(berth_env, tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        p = berth(berth_env, "registry", "serve", "--addr", addr, "--root", str(tmp_path / "r"), check=False,
                  timeout=10)
        one_line_error(p, 1, f"cannot listen on {addr}", "Address already in use")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    p = berth(berth_env, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(tmp_path / "r"),
              "--tls-cert", str(bad), "--tls-key", str(bad), check=False, timeout=10)
    one_line_error(p, 1, "cannot serve HTTPS on 127.0.0.1:0", str(bad))


def test_pause_unpause_states_and_messages(busybox_env):
    env = busybox_env
    berth(env, "run", "-d", "--name", "pz", "busybox", "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done")
    assert berth(env, "pause", "pz").stdout.strip() == "pz"
    assert "(Paused)" in berth(env, "ps").stdout
    assert json.loads(berth(env, "inspect", "pz").stdout)[0]["state"] == "paused"
    one_line_error(berth(env, "pause", "pz", check=False), 1, "container pz is already paused")
    berth(env, "unpause", "pz")
    one_line_error(berth(env, "unpause", "pz", check=False), 1, "container pz is not paused")
    berth(env, "pause", "pz")
    one_line_error(berth(env, "exec", "pz", "true", check=False), 125, "container pz is paused: unpause it first")
    # A paused container stops as docker's does: thawed, its TERM handler runs.
    berth(env, "stop", "pz")
    info = json.loads(berth(env, "inspect", "pz").stdout)[0]
    assert info["state"] == "exited" and info["exit_code"] == 7
    one_line_error(berth(env, "pause", "pz", check=False), 1, "container pz is not running")


def test_small_messages_name_the_value(busybox_env, tmp_path):
    env = busybox_env
    one_line_error(berth(env, "disk", "create", str(tmp_path / "x.qcow2"), "lots", check=False), 125, "SIZE 'lots'")
    assert not (tmp_path / "x.qcow2").exists()
    berth(env, "disk", "create", str(tmp_path / "y.qcow2"), "1M")
    one_line_error(berth(env, "disk", "resize", str(tmp_path / "y.qcow2"), "+x", check=False), 125, "SIZE '+x'")
    one_line_error(berth(env, "version", "extra", check=False), 125, "unexpected argument 'extra'")
    # Either backend has a balloon (docs/vm.md): the advice does not send users to berth-vmm only.
    berth(env, "vm", "create", "nob", "--image", "busybox", "--network", "none", "--", "/bin/true")
    try:
        line = one_line_error(berth(env, "vm", "balloon", "nob", "16M", check=False), 1, "has no balloon device")
        assert "berth-vmm" not in line
    finally:
        berth(env, "vm", "rm", "nob")


def test_inspect_of_unknown_names_still_prints_json(berth_env):
    """Programs parse stdout: "[]" and the error on stderr, as docker and `berth image inspect` do."""
    for args in (["inspect", "ghost"], ["image", "inspect", "ghost"], ["vm", "inspect", "ghost"]):
        p = berth(berth_env, *args, check=False)
        one_line_error(p, 1, "ghost")
        assert json.loads(p.stdout) == [], args
    one_line_error(berth(berth_env, "inspect", check=False), 125, "a container name or id is needed")


def test_images_repository_filter_lists_only_matching_names(busybox_env):
    env = busybox_env
    berth(env, "image", "tag", "busybox", "other/box:2", "busybox:extra")
    rows = berth(env, "images", "busybox").stdout.splitlines()[1:]
    assert sorted(r.split()[:2] for r in rows) == [["docker.io/library/busybox", "extra"],
                                                    ["docker.io/library/busybox", "latest"]]
    rows = berth(env, "images", "other/box:2").stdout.splitlines()[1:]
    assert [r.split()[:2] for r in rows] == [["docker.io/other/box", "2"]]
    assert berth(env, "images", "other/box:3").stdout.splitlines()[1:] == []
    # JSON keeps whole images (with all their names) that have a matching name.
    [img] = json.loads(berth(env, "images", "--format", "json", "other/box").stdout)
    assert "docker.io/library/busybox:latest" in img["names"]


def test_vm_ls_quiet_and_logs_one_container(busybox_env):
    env = busybox_env
    vid = berth(env, "vm", "create", "q1", "--image", "busybox", "--network", "none", "--memory", "128", "--",
                "/bin/sleep", "600").stdout.strip()
    try:
        assert berth(env, "vm", "ls", "-q").stdout.split() == [vid[:12]]
        one_line_error(berth(env, "vm", "ls", "extra", check=False), 125, "unexpected argument 'extra'")
        assert berth(env, "vm", "inspect", vid[:12]).stdout  # the -q ids name VMs for the other verbs
        # vm stats without names: the running VMs, as berth stats (it was "a VM name is needed").
        assert json.loads(berth(env, "vm", "stats", "--format", "json").stdout) == []
        assert [v["name"] for v in json.loads(berth(env, "vm", "stats", "--format", "json", "q1").stdout)] == ["q1"]
        berth(env, "vm", "start", "q1")
        [st] = json.loads(berth(env, "vm", "stats", "--format", "json").stdout)
        assert st["name"] == "q1" and st["state"] == "running"
    finally:
        berth(env, "vm", "rm", "--force", "q1")
    berth(env, "create", "--name", "l1", "busybox", "true")
    berth(env, "create", "--name", "l2", "busybox", "true")
    one_line_error(berth(env, "logs", "l1", "l2", check=False), 125, "one container at a time")


def test_mac_address_is_checked_before_anything_is_made(busybox_env):
    env = busybox_env
    one_line_error(berth(env, "run", "--rm", "--mac-address", "xx", "busybox", "true", check=False), 125,
                   "--mac-address", "'xx'")
    one_line_error(berth(env, "create", "--network", "none", "--mac-address", "02:00:00:00:00:01", "busybox",
                         check=False), 125, "--mac-address needs a berth network")
    for net in ("none", "host"):
        one_line_error(berth(env, "run", "--rm", "--network", net, "-p", "8080:80", "busybox", "true", check=False),
                       125, f"-p needs a berth network, not --network {net}")
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_top_and_stats_bad_options_are_one_line(busybox_env):
    env = busybox_env
    berth(env, "run", "-d", "--name", "tp", "busybox", "sleep", "600")
    p = berth(env, "top", "tp", "--no-such-ps-option", check=False)
    one_line_error(p, 1, "berth top: ps refused these options", "unknown")
    assert p.stdout == ""
    p = berth(env, "top", "tp", "-o", "args", check=False)
    one_line_error(p, 1, "no PID column")
    assert p.stdout == ""  # no header of a table that cannot be filled
    for verb in ("top", "stats"):
        one_line_error(berth(env, verb, "--format", check=False), 125, f"berth {verb}: --format needs a value")


def test_disk_verbs_refuse_what_cannot_be_a_disk(berth_env, tmp_path):
    for args in (["check", str(tmp_path)], ["info", str(tmp_path)], ["convert", "-O", "qcow2", str(tmp_path),
                                                                       str(tmp_path / "out.qcow2")]):
        p = berth(berth_env, "disk", *args, check=False)
        one_line_error(p, 1, "not a regular file or block device")
    assert not (tmp_path / "out.qcow2").exists()


def test_run_options_checked_when_read_and_env_file_names(busybox_env, tmp_path):
    env = busybox_env
    one_line_error(berth(env, "run", "--rm", "-w", "rel", "busybox", "pwd", check=False), 125,
                   "--workdir 'rel': expected an absolute path")
    one_line_error(berth(env, "create", "-h", "h" * 65, "busybox", check=False), 125, "--hostname")
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []
    # --env-file takes bare names as -e does: berth's own value when set, nothing otherwise.
    f = tmp_path / "env"
    f.write_text("A=1\n# comment\n\nAUDIT_SET\nAUDIT_UNSET\n")
    out = berth(dict(env, AUDIT_SET="yes"), "run", "--rm", "--env-file", str(f), "busybox", "env").stdout.split()
    assert "A=1" in out and "AUDIT_SET=yes" in out and not any(x.startswith("AUDIT_UNSET") for x in out)


def test_user_ids_are_range_checked_not_truncated(busybox_env):
    env = busybox_env
    berth(env, "run", "-d", "--name", "ids", "busybox", "sleep", "600")
    one_line_error(berth(env, "exec", "-u", "99999999999", "ids", "id", check=False), 125, "out of range")
    one_line_error(berth(env, "run", "--rm", "-u", "1:-5", "busybox", "id", check=False), 125, "gid '-5' is out of range")
    # Large ids within uid_t work (they were cut to a negative int and refused by the config check).
    assert berth(env, "exec", "-u", "4000000000:4000000001", "ids", "id").stdout.strip() == "uid=4000000000 gid=4000000001"


def test_build_arg_without_value_comes_from_the_environment(busybox_env, tmp_path):
    env = busybox_env
    (tmp_path / "Containerfile").write_text('FROM busybox\nARG AUDIT_ARG=default\nRUN echo "got=$AUDIT_ARG"\n')
    p = berth(dict(env, AUDIT_ARG="from-env"), "build", "--no-cache", "--build-arg", "AUDIT_ARG", str(tmp_path))
    assert "got=from-env" in p.stdout
    # Unset in berth's environment: no value given, the ARG's default stands (docker's rule).
    env.pop("AUDIT_ARG", None)
    p = berth(env, "build", "--no-cache", "--build-arg", "AUDIT_ARG", str(tmp_path))
    assert "got=default" in p.stdout


def test_import_rootfs_refuses_a_relative_workdir(berth_env, busybox_rootfs):
    p = berth(berth_env, "image", "import", "--rootfs", "-w", "rel", busybox_rootfs, "wd:1", check=False)
    one_line_error(p, 125, "--workdir 'rel': expected an absolute path")
    assert json.loads(berth(berth_env, "images", "--format", "json").stdout) == []


def test_ps_status_reads_like_docker(busybox_env):
    import re
    env = busybox_env
    berth(env, "run", "-d", "--name", "st", "busybox", "sleep", "600")
    berth(env, "run", "--name", "done", "busybox", "true")
    rows = {r.split()[-1]: r for r in berth(env, "ps", "-a").stdout.splitlines()[1:]}
    assert re.search(r"  Up \d+ seconds?  ", rows["st"]), rows["st"]
    assert re.search(r"  Exited \(0\) \d+ seconds? ago  ", rows["done"]), rows["done"]


def test_container_names_and_empty_command_say_the_rule(busybox_env):
    env = busybox_env
    one_line_error(berth(env, "create", "--name", "a" * 64, "busybox", check=False), 125, "at most 63")
    one_line_error(berth(env, "run", "busybox", "", check=False), 125, "the command is an empty string")
    assert json.loads(berth(env, "ps", "-a", "--format", "json").stdout) == []


def test_exec_detach_runs_in_the_background(busybox_env):
    import time
    env = busybox_env
    berth(env, "run", "-d", "--name", "xd", "busybox", "sleep", "600")
    # It returns while the command still runs (a 30 s sleep), with nothing on stdout.
    p = berth(env, "exec", "-d", "xd", "sh", "-c", "echo started > /tmp/marker; exec sleep 30")
    assert p.stdout == ""
    deadline = time.time() + 20
    while berth(env, "exec", "xd", "cat", "/tmp/marker", check=False).stdout != "started\n":
        assert time.time() < deadline, "the detached command did not run"
        time.sleep(0.2)
    cmds = [r["cmd"] for r in json.loads(berth(env, "top", "--format", "json", "xd").stdout)]
    assert "sleep 30" in cmds, cmds
    one_line_error(berth(env, "exec", "-d", "xd", "/nonexistent", check=False), 127, "/nonexistent")
    one_line_error(berth(env, "exec", "-di", "xd", "true", check=False), 125, "-d and -i cannot be combined")


STRAY_ARGUMENTS = [
    (["registry", "gc", "--dry-run", "extra"], "berth registry gc: unexpected argument 'extra'"),
    (["kernel", "prepare", "extra"], "berth kernel prepare: unexpected argument 'extra'"),
    (["vm", "logs", "a", "b"], "berth vm logs: one VM at a time"),
    (["vm", "console", "a", "b"], "berth vm console: one VM at a time"),
]


def test_stray_arguments_are_refused_not_ignored(berth_env, tmp_path):
    """registry gc deletes: a word it does not expect must stop it, not be skipped on the way."""
    for args, msg in STRAY_ARGUMENTS:
        one_line_error(berth(berth_env, *args, check=False), 125, msg)


def test_network_bad_input_is_one_line_naming_the_verb(berth_env):
    """berth network's verbs report bad options as berth does elsewhere (not glibc's 'ls: invalid
    option'), say when a command is missing, and reconcile reads every argument before it cleans
    anything up. Nothing here creates a network device."""
    env = berth_env
    one_line_error(berth(env, "network", check=False), 125, "berth network: a command is needed")
    one_line_error(berth(env, "network", "ls", "-x", check=False), 125, "berth network ls: unknown option '-x'")
    one_line_error(berth(env, "network", "create", "n1", "--subnet", check=False), 125,
                   "berth network create: --subnet needs a value")
    one_line_error(berth(env, "network", "inspect", "--bogus", "n1", check=False), 125,
                   "berth network inspect: unknown option '--bogus'")
    one_line_error(berth(env, "network", "connect", "--nope", "n1", "c1", check=False), 125,
                   "berth network connect: unknown option '--nope'")
    one_line_error(berth(env, "network", "disconnect", "--ip", "10.1.1.1", "n1", "c1", check=False), 125,
                   "berth network disconnect: unknown option '--ip'")
    one_line_error(berth(env, "network", "attach", "--bogus", check=False), 125,
                   "berth network attach: unknown option '--bogus'")
    one_line_error(berth(env, "network", "reconcile", "extra", check=False), 125,
                   "berth network reconcile: unknown argument 'extra'")
    one_line_error(berth(env, "network", "reconcile", "--format", check=False), 125,
                   "berth network reconcile: --format needs a value")
    p = berth(env, "network", "reconcile", "--format", "json", "--help")
    assert p.stdout.startswith("Usage: berth network reconcile"), p.stdout
