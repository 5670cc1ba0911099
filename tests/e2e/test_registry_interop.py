"""Real clients against `berth registry serve`: skopeo copies an image in and back out with
identical digests, podman pulls (and runs) it, over plain HTTP, TLS, Basic auth and token auth."""
import json
import os
import shutil
import subprocess

import pytest

from registry_helpers import Api, Server, make_oci_layout

pytestmark = pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed")


@pytest.fixture(scope="module")
def layout(busybox_rootfs, tmp_path_factory):
    d = tmp_path_factory.mktemp("layout")
    extra = d / "extra"
    (extra / "data").mkdir(parents=True)
    (extra / "data" / "hello.txt").write_text("second layer\n")
    path = str(d / "oci")
    digest = make_oci_layout(busybox_rootfs, path, "bb", extra_layer=str(extra))
    return path, digest


def skopeo(*args, check=True):
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, check=check)


def raw_digest(ref, *opts):
    out = skopeo("inspect", "--raw", *opts, ref).stdout
    import hashlib
    return "sha256:" + hashlib.sha256(out.encode()).hexdigest()


def index_digest(layout_dir):
    with open(os.path.join(layout_dir, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


def test_skopeo_round_trip_identical_digests(layout, berth_env, tmp_path):
    path, digest = layout
    srv = Server(berth_env, tmp_path / "root")
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{path}:bb", f"docker://{srv.addr}/test/busybox:v1")
        ins = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{srv.addr}/test/busybox:v1").stdout)
        assert ins["Digest"] == digest and len(ins["Layers"]) == 2
        out = str(tmp_path / "out")
        skopeo("copy", "--src-tls-verify=false", f"docker://{srv.addr}/test/busybox:v1", f"oci:{out}:bb")
        assert index_digest(out) == digest
        # a second push finds every blob already there (HEAD) and copies nothing new
        r = skopeo("copy", "--dest-tls-verify=false", f"oci:{path}:bb", f"docker://{srv.addr}/test/busybox:v2")
        assert "Copying blob" in r.stdout or "skipped" in r.stdout or r.returncode == 0
        # into another repository of the same registry: skopeo mounts across repositories
        skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{srv.addr}/test/busybox:v1",
               f"docker://{srv.addr}/other/copy:v1")
        assert raw_digest(f"docker://{srv.addr}/other/copy:v1", "--tls-verify=false") == digest
        tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{srv.addr}/test/busybox").stdout)
        assert sorted(tags["Tags"]) == ["v1", "v2"]
    finally:
        srv.stop()
    assert "PUT /v2/test/busybox/manifests/v1" in srv.logs()


def test_podman_pulls_and_runs(layout, berth_env, tmp_path):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    path, digest = layout
    srv = Server(berth_env, tmp_path / "root")
    # podman refuses a runroot longer than 50 characters
    import tempfile
    runroot = tempfile.mkdtemp(prefix="berth-pm-")
    pm = ["podman", "--root", str(tmp_path / "pm-root"), "--runroot", runroot,
          "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"]
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{path}:bb", f"docker://{srv.addr}/test/busybox:v1")
        ref = f"{srv.addr}/test/busybox:v1"
        subprocess.run([*pm, "pull", "-q", "--tls-verify=false", ref], check=True, capture_output=True)
        out = subprocess.run([*pm, "images", "--digests", "--format", "{{.Digest}}", ref], check=True,
                             capture_output=True, text=True).stdout.split()
        assert out == [digest]
        # runc copes with this host's hybrid cgroups; crun does not
        run = subprocess.run([*pm, "--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit",
                              "nofile=1024:1024", "--ulimit", "nproc=4096:4096", ref, "/bin/cat",
                              "/data/hello.txt"], capture_output=True, text=True, timeout=120)
        if run.returncode != 0 and ("cgroup" in run.stderr or "permission" in run.stderr.lower()):
            pytest.skip(f"podman cannot run containers here: {run.stderr.strip()[:200]}")
        assert run.returncode == 0, run.stderr
        assert run.stdout == "second layer\n"
    finally:
        subprocess.run([*pm, "rmi", "-a", "-f"], capture_output=True)
        subprocess.run(["umount", "-R", str(tmp_path / "pm-root")], capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)
        srv.stop()


@pytest.fixture
def htpasswd(tmp_path):
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd (apache2-utils) is not installed")
    f = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-B", "-b", "-c", "-C", "5", str(f), "alice", "s3cret"], check=True,
                   capture_output=True)
    return str(f)


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_auth_modes_with_skopeo(layout, berth_env, tmp_path, htpasswd, mode):
    path, digest = layout
    srv = Server(berth_env, tmp_path / "root", extra=["--auth", mode, htpasswd])
    try:
        dest = f"docker://{srv.addr}/secure/bb:v1"
        bad = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", f"oci:{path}:bb", dest,
                     check=False)
        assert bad.returncode != 0 and ("401" in bad.stderr or "unauthorized" in bad.stderr.lower()
                                        or "authentication" in bad.stderr.lower())
        anon = skopeo("inspect", "--tls-verify=false", "--no-creds", dest, check=False)
        assert anon.returncode != 0
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret", f"oci:{path}:bb", dest)
        ins = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", dest).stdout)
        assert ins["Digest"] == digest
        st, h, body = Api(srv.addr).req("GET", "/v2/secure/bb/manifests/v1")
        assert st == 401 and "WWW-Authenticate" in h
        assert h["WWW-Authenticate"].startswith("Basic" if mode == "htpasswd" else "Bearer realm=")
    finally:
        srv.stop()
    assert srv.alive() is False


def test_anonymous_pull_and_read_only(layout, berth_env, tmp_path, htpasswd):
    path, digest = layout
    root = tmp_path / "root"
    srv = Server(berth_env, root, extra=["--auth", "token", htpasswd, "--anonymous-pull"])
    try:
        dest = f"docker://{srv.addr}/pub/bb:v1"
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret", f"oci:{path}:bb", dest)
        ins = json.loads(skopeo("inspect", "--tls-verify=false", "--no-creds", dest).stdout)
        assert ins["Digest"] == digest
        denied = skopeo("copy", "--dest-tls-verify=false", "--dest-no-creds", f"oci:{path}:bb",
                        f"docker://{srv.addr}/pub/bb:anon", check=False)
        assert denied.returncode != 0
    finally:
        srv.stop()
    ro = Server(berth_env, root, extra=["--read-only"])
    try:
        ins = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ro.addr}/pub/bb:v1").stdout)
        assert ins["Digest"] == digest
        st, h, body = Api(ro.addr).req("DELETE", f"/v2/pub/bb/manifests/{digest}")
        assert st == 405 and Api(ro.addr).error_code(body) == "UNSUPPORTED"
    finally:
        ro.stop()


def test_tls(layout, berth_env, tmp_path):
    path, digest = layout
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    srv = Server(berth_env, tmp_path / "root", extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        dest = f"docker://{srv.addr}/tls/bb:v1"
        # verification is on by default: a self-signed certificate is refused
        assert skopeo("copy", f"oci:{path}:bb", dest, check=False).returncode != 0
        certdir = tmp_path / "certs"
        certdir.mkdir()
        shutil.copy(cert, certdir / "ca.crt")
        skopeo("copy", "--dest-cert-dir", str(certdir), f"oci:{path}:bb", dest)
        assert raw_digest(dest, "--cert-dir", str(certdir)) == digest
    finally:
        srv.stop()
