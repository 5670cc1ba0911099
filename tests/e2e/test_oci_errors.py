"""Bad input to berth-oci: one clear error line naming the problem, non-zero exit, and nothing left
behind (no state, no process, no mount)."""
import concurrent.futures
import json
import os

from ocilib import default_config, oci  # noqa: F401


def mounts_under(path):
    """Mounts on the host below path (other tests may mount elsewhere meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def check_fails(oci, bundle, contains):
    cid = oci.new_id()
    oci.fails("create", "--bundle", bundle, cid, contains=contains)
    assert cid not in oci.list_ids()
    assert not os.path.exists(os.path.join(oci.root, cid))
    assert mounts_under(oci.tmp) == []
    assert not any(os.path.exists(f"/sys/fs/cgroup/{c}/berth/{cid}") for c in ("pids", "memory", "freezer"))
    # run takes the same path.
    oci.fails("run", "--bundle", bundle, cid, contains=contains)
    assert cid not in oci.list_ids()


def write_config(bundle, cfg):
    (bundle / "config.json").write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)


def test_missing_config(oci):
    b = oci.bundle()
    os.unlink(b / "config.json")
    check_fails(oci, b, "config.json: No such file or directory")


def test_malformed_config(oci):
    b = oci.bundle()
    write_config(b, '{"ociVersion": "1.2.0", "process": ')
    check_fails(oci, b, "config.json:1:")


def test_missing_bundle(oci, tmp_path):
    check_fails(oci, tmp_path / "nope", "bundle")


def test_unknown_namespace(oci):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["namespaces"].append({"type": "bogus"})
    b = oci.bundle(cfg)
    check_fails(oci, b, "linux.namespaces[6].type: unknown namespace type 'bogus'")


def test_bad_mappings(oci):
    cfg = default_config(["/bin/true"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 0}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = oci.bundle(cfg)
    check_fails(oci, b, "linux.uidMappings[0]")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 10},
                                   {"containerID": 5, "hostID": 200000, "size": 10}]
    write_config(b, cfg)
    check_fails(oci, b, "overlaps")
    del cfg["linux"]["uidMappings"]
    write_config(b, cfg)
    check_fails(oci, b, "uidMappings: a new user namespace needs uid and gid mappings")


def test_nonexistent_rootfs(oci):
    cfg = default_config(["/bin/true"])
    cfg["root"]["path"] = "no-such-rootfs"
    b = oci.bundle(cfg)
    check_fails(oci, b, "root.path:")


def test_missing_and_wrong_typed_fields(oci):
    cfg = default_config(["/bin/true"])
    cfg["process"]["args"] = []
    b = oci.bundle(cfg)
    check_fails(oci, b, "process.args")
    cfg = default_config(["/bin/true"])
    cfg["process"]["cwd"] = "relative"
    write_config(b, cfg)
    check_fails(oci, b, "process.cwd")
    cfg = default_config(["/bin/true"])
    cfg["mounts"][0]["destination"] = 7
    write_config(b, cfg)
    check_fails(oci, b, "mounts[0].destination: must be a string")
    cfg = default_config(["/bin/true"])
    del cfg["ociVersion"]
    write_config(b, cfg)
    check_fails(oci, b, "ociVersion: missing")


def test_program_not_found_leaves_nothing(oci):
    b = oci.bundle(args=["/bin/no-such-program"])
    check_fails(oci, b, "/bin/no-such-program")


def test_bad_mount_type_and_rlimit(oci):
    cfg = default_config(["/bin/true"])
    cfg["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "x"})
    b = oci.bundle(cfg)
    check_fails(oci, b, "unknown filesystem type 'nosuchfs'")
    cfg = default_config(["/bin/true"])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]
    write_config(b, cfg)
    check_fails(oci, b, "process.rlimits: RLIMIT_NOFILE soft 1048576 hard 1048576 refused")
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
    write_config(b, cfg)
    check_fails(oci, b, "unknown rlimit 'RLIMIT_BOGUS'")


def test_duplicate_id(oci):
    b = oci.bundle(args=["/bin/sleep", "100"])
    cid = oci.new_id()
    oci.ok("create", "--bundle", b, cid)
    oci.fails("create", "--bundle", b, cid, contains=f"container {cid} already exists")
    assert oci.state(cid)["status"] == "created"
    oci.ok("delete", cid)


def test_wrong_state_operations(oci):
    b = oci.bundle(args=["/bin/sleep", "100"])
    cid = oci.new_id()
    oci.ok("run", "-d", "--bundle", b, cid)
    oci.fails("start", cid, contains="it is running")
    oci.fails("delete", cid, contains="stop it first, or use --force")
    oci.fails("resume", cid)
    oci.ok("delete", "-f", cid)
    oci.fails("start", cid, contains="does not exist")
    oci.fails("exec", cid, "/bin/true", contains="does not exist")


def test_bad_ids_and_arguments(oci):
    b = oci.bundle()
    oci.fails("create", "--bundle", b, "../escape", contains="invalid container id")
    oci.fails("create", "--bundle", b, contains="expected exactly one container id")
    oci.fails("kill", oci.new_id(), "NOSIG", contains="unknown signal 'NOSIG'")
    oci.fails("frobnicate", contains="unknown command 'frobnicate'")
    oci.fails("--log-format", "xml", "list", contains="--log-format")
    oci.fails("--systemd-cgroup", "create", "--bundle", b, oci.new_id(), contains="--systemd-cgroup")


def test_terminal_without_console_socket(oci):
    cfg = default_config(["/bin/true"])
    cfg["process"]["terminal"] = True
    b = oci.bundle(cfg)
    # create (and run --detach) cannot hand the pty to anyone; run in the foreground proxies it.
    cid = oci.new_id()
    oci.fails("create", "--bundle", b, cid, contains="--console-socket is required")
    oci.fails("run", "--detach", "--bundle", b, cid, contains="--console-socket is required")
    assert cid not in oci.list_ids()


def test_log_file_json_gets_the_error(oci, tmp_path):
    log = tmp_path / "log.json"
    oci.fails("--log", log, "--log-format", "json", "state", "nope-" + os.urandom(3).hex(),
              contains="does not exist")
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"] and entry["time"]


def test_early_init_failure_is_reported_under_concurrency(oci):
    """The init sets up its mounts while the runtime moves it into its cgroup; when it fails and
    exits before reading the runtime's next message, the runtime still reports the init's own
    error (not a 'connection reset'), however the two interleave: many attempts side by side."""
    cfg = default_config(["/bin/true"])
    cfg["mounts"].insert(0, {"destination": "/x", "type": "nosuchfs", "source": "x"})
    b = oci.bundle(cfg)
    ids = [oci.new_id() for _ in range(60)]

    def attempt(cid):
        p = oci.cmd("create" if hash(cid) % 2 else "run", "--bundle", b, cid)
        return p.returncode, p.stderr.strip()

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, ids))
    for rc, err in results:
        assert rc != 0 and "unknown filesystem type 'nosuchfs'" in err, err
    assert not set(ids) & set(oci.list_ids())
    assert not any(os.path.exists(f"/sys/fs/cgroup/pids/berth/{cid}") for cid in ids)
