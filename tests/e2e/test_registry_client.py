"""`berth push`, `berth pull`, `berth login`/`logout` against berth's registry, Debian's
docker-registry and a deliberately flaky stub: identical digests, skipped blobs, Basic and token
auth, multi-arch selection, TLS verification, resumed downloads."""
import hashlib
import http.server
import json
import os
import shutil
import stat
import subprocess
import threading

import pytest

from conftest import binary
from registry_helpers import Api, DockerRegistry, Server, make_oci_layout, sha256


@pytest.fixture(scope="module")
def layout(busybox_rootfs, tmp_path_factory):
    d = tmp_path_factory.mktemp("client-layout")
    path = str(d / "oci")
    digest = make_oci_layout(busybox_rootfs, path, "bb")
    return path, digest


def berth(env, *args, check=True, input=None):
    r = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, input=input, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def layout_digest(path, tag):
    with open(os.path.join(path, "index.json")) as f:
        for m in json.load(f)["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return m["digest"]
    return None


def test_push_pull_berth_registry(layout, berth_env, tmp_path):
    path, digest = layout
    srv = Server(berth_env, tmp_path / "srvroot")
    try:
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json", f"oci:{path}:bb",
                               f"{srv.addr}/c/bb:v1").stdout)
        assert out["digest"] == digest and out["blobs_uploaded"] == 2
        again = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json", f"oci:{path}:bb",
                                 f"{srv.addr}/c/bb:v2").stdout)
        assert again["blobs_uploaded"] == 0 and again["blobs_skipped"] == 2
        dest = str(tmp_path / "pulled")
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", "--dest",
                               f"oci:{dest}:mine", f"{srv.addr}/c/bb:v1").stdout)
        assert out["digest"] == digest and layout_digest(dest, "mine") == digest
        # the pulled layout is a valid image for other tools
        if shutil.which("skopeo"):
            raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{dest}:mine"], capture_output=True,
                                 check=True).stdout
            assert sha256(raw) == digest
        # into the local store: blobs land in $BERTH_ROOT, a second pull fetches nothing
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json",
                               f"{srv.addr}/c/bb@{digest}").stdout)
        assert out["blobs_fetched"] == 2
        assert os.path.exists(os.path.join(berth_env["BERTH_ROOT"], "blobs/sha256", digest[7:]))
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", f"{srv.addr}/c/bb:v1").stdout)
        assert out["blobs_fetched"] == 0 and out["blobs_present"] == 2
        # errors are one clear line
        r = berth(berth_env, "pull", "--tls-verify=false", f"{srv.addr}/c/bb:nope", check=False)
        assert r.returncode == 1 and "manifest unknown" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        r = berth(berth_env, "pull", f"{srv.addr}/c/bb:v1", check=False)
        assert r.returncode == 1 and "tls-verify" in r.stderr
        r = berth(berth_env, "pull", "Bad/Name", check=False)
        assert r.returncode == 125 and "not a valid repository name" in r.stderr
    finally:
        srv.stop()


def test_push_pull_docker_registry_with_login(layout, berth_env, tmp_path):
    path, digest = layout
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd is not installed")
    pw = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-B", "-b", "-c", "-C", "5", str(pw), "bob", "pa55"], check=True, capture_output=True)
    reg = DockerRegistry(str(tmp_path), htpasswd=str(pw))
    try:
        r = berth(berth_env, "push", "--tls-verify=false", f"oci:{path}:bb", f"{reg.addr}/d/bb:v1", check=False)
        assert r.returncode == 1 and ("berth login" in r.stderr or "authentication" in r.stderr)
        r = berth(berth_env, "login", "--tls-verify=false", "-u", "bob", "--password-stdin", reg.addr,
                  input="wrong\n", check=False)
        assert r.returncode == 1 and "authentication failed" in r.stderr
        berth(berth_env, "login", "--tls-verify=false", "-u", "bob", "--password-stdin", reg.addr, input="pa55\n")
        auth = os.path.join(berth_env["BERTH_ROOT"], "auth.json")
        assert stat.S_IMODE(os.stat(auth).st_mode) == 0o600
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json", f"oci:{path}:bb",
                               f"{reg.addr}/d/bb:v1").stdout)
        assert out["digest"] == digest
        if shutil.which("skopeo"):
            raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "bob:pa55",
                                  f"docker://{reg.addr}/d/bb:v1"], capture_output=True, check=True).stdout
            assert sha256(raw) == digest
        dest = str(tmp_path / "fromdocker")
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", "--dest",
                               f"oci:{dest}:bb", f"{reg.addr}/d/bb:v1").stdout)
        assert out["digest"] == digest and layout_digest(dest, "bb") == digest
        berth(berth_env, "logout", reg.addr)
        r = berth(berth_env, "pull", "--tls-verify=false", f"{reg.addr}/d/bb:v1", check=False)
        assert r.returncode == 1
        r = berth(berth_env, "logout", reg.addr, check=False)
        assert r.returncode == 1 and "not logged in" in r.stderr
    finally:
        reg.stop()


def test_token_auth_flow(layout, berth_env, tmp_path):
    path, digest = layout
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd is not installed")
    pw = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-B", "-b", "-c", "-C", "5", str(pw), "carol", "tok"], check=True,
                   capture_output=True)
    srv = Server(berth_env, tmp_path / "srvroot", extra=["--auth", "token", str(pw)])
    try:
        r = berth(berth_env, "push", "--tls-verify=false", "--creds", "carol:bad", f"oci:{path}:bb",
                  f"{srv.addr}/t/bb:v1", check=False)
        assert r.returncode == 1 and "authentication failed" in r.stderr
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--creds", "carol:tok", "--format", "json",
                               f"oci:{path}:bb", f"{srv.addr}/t/bb:v1").stdout)
        assert out["digest"] == digest
        authfile = str(tmp_path / "elsewhere" / "auth.json")
        berth(berth_env, "login", "--tls-verify=false", "--authfile", authfile, "-u", "carol", "-p", "tok", srv.addr)
        assert stat.S_IMODE(os.stat(authfile).st_mode) == 0o600
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--authfile", authfile, "--format", "json",
                               "--dest", f"oci:{tmp_path / 'p'}:bb", f"{srv.addr}/t/bb:v1").stdout)
        assert out["digest"] == digest
        assert "GET /token" in srv.logs()
    finally:
        srv.stop()


def test_multi_arch_index(layout, berth_env, tmp_path):
    """An index with the real amd64 image and a fake arm64 one: pull picks the host's, or --platform's."""
    path, digest = layout
    work = str(tmp_path / "multi")
    shutil.copytree(path, work)
    blobs = os.path.join(work, "blobs", "sha256")

    def put(data):
        d = sha256(data)
        with open(os.path.join(blobs, d[7:]), "wb") as f:
            f.write(data)
        return d

    with open(os.path.join(blobs, digest[7:]), "rb") as f:
        amd = f.read()
    cfg = b'{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    arm = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg),
                                 "size": len(cfg)}, "layers": []}).encode()
    arm_d = put(arm)
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_d, "size": len(arm),
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": len(amd),
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    idx_d = put(idx)
    with open(os.path.join(work, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                       "digest": idx_d, "size": len(idx),
                                                       "annotations": {"org.opencontainers.image.ref.name": "multi"}}]},
                  f)
    srv = Server(berth_env, tmp_path / "srvroot")
    try:
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json", f"oci:{work}:multi",
                               f"{srv.addr}/m/app:v1").stdout)
        assert out["digest"] == idx_d
        st, h, body = Api(srv.addr).req("GET", "/v2/m/app/manifests/v1")
        assert sha256(body) == idx_d and h["Content-Type"] == "application/vnd.oci.image.index.v1+json"
        host = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", "--dest",
                                f"oci:{tmp_path / 'h'}:x", f"{srv.addr}/m/app:v1").stdout)
        assert host["index_digest"] == idx_d and host["digest"] == (digest if os.uname().machine == "x86_64" else arm_d)
        a = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", "--platform",
                             "linux/arm64", "--dest", f"oci:{tmp_path / 'a'}:x", f"{srv.addr}/m/app:v1").stdout)
        assert a["digest"] == arm_d
        r = berth(berth_env, "pull", "--tls-verify=false", "--platform", "linux/s390x", f"{srv.addr}/m/app:v1",
                  check=False)
        assert r.returncode == 1 and "no image for platform linux/s390x" in r.stderr
        r = berth(berth_env, "pull", "--platform", "linux", f"{srv.addr}/m/app:v1", check=False)
        assert r.returncode == 125 and "OS/ARCH" in r.stderr
    finally:
        srv.stop()


class FlakyRegistry(http.server.ThreadingHTTPServer):
    """Serves one image; the first GET of the layer is cut off half-way (connection closed)."""
    daemon_threads = True


def test_interrupted_download_resumes(berth_env, tmp_path):
    layer = os.urandom(3 << 20)
    cfg = b'{"architecture":"amd64","os":"linux"}'
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(cfg),
                                 "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer),
                                  "size": len(layer)}]}).encode()
    blobs = {sha256(layer): layer, sha256(cfg): cfg}
    seen = {"ranges": [], "cut": False}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path == "/v2/":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path.endswith("/manifests/v1"):
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Length", str(len(man)))
                self.end_headers()
                self.wfile.write(man)
            elif "/blobs/" in self.path:
                data = blobs[self.path.rsplit("/", 1)[1]]
                rng = self.headers.get("Range")
                if rng:
                    seen["ranges"].append(rng)
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    self.send_header("Content-Length", str(len(data) - start))
                    self.end_headers()
                    self.wfile.write(data[start:])
                elif data is layer and not seen["cut"]:
                    seen["cut"] = True
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

    srv = FlakyRegistry(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json", "--dest",
                               f"oci:{tmp_path / 'r'}:x", f"127.0.0.1:{srv.server_address[1]}/flaky/img:v1").stdout)
        assert out["digest"] == sha256(man)
        assert seen["cut"] and seen["ranges"] and int(seen["ranges"][0].split("=")[1].split("-")[0]) > 0
        with open(tmp_path / "r" / "blobs" / "sha256" / sha256(layer)[7:], "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha256(layer)[7:]
        assert os.listdir(tmp_path / "r" / "blobs") == ["sha256"]
    finally:
        srv.shutdown()
        srv.server_close()


def test_tls_verification_default_on(layout, berth_env, tmp_path):
    path, digest = layout
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    srv = Server(berth_env, tmp_path / "srvroot", extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        r = berth(berth_env, "push", f"oci:{path}:bb", f"{srv.addr}/s/bb:v1", check=False)
        assert r.returncode == 1 and "tls-verify=false" in r.stderr
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json", f"oci:{path}:bb",
                               f"{srv.addr}/s/bb:v1").stdout)
        assert out["digest"] == digest
        out = json.loads(berth(berth_env, "pull", "--ca-cert", str(cert), "--format", "json", "--dest", f"oci:{tmp_path / 'p'}:bb",
                               f"{srv.addr}/s/bb:v1").stdout)
        assert out["digest"] == digest
    finally:
        srv.stop()


def test_pull_into_image_store_push_local_image_and_shared_root(layout, berth_env, tmp_path):
    """pull records a tagged image in the store; push takes a local image by name; a registry on
    the store's own root shares its blobs, and neither gc removes what the other uses."""
    path, digest = layout
    root = berth_env["BERTH_ROOT"]
    srv = Server(berth_env, root)   # the registry serves from the image store's root
    try:
        berth(berth_env, "push", "--tls-verify=false", f"oci:{path}:bb", f"{srv.addr}/lib/bb:v1")
        layers_before = sorted(os.listdir(os.path.join(root, "blobs", "sha256")))
        out = json.loads(berth(berth_env, "pull", "--tls-verify=false", "--format", "json",
                               f"{srv.addr}/lib/bb:v1").stdout)
        assert out["image"] == digest and out["blobs_fetched"] == 0   # same root: nothing to copy
        assert sorted(os.listdir(os.path.join(root, "blobs", "sha256"))) == layers_before
        imgs = json.loads(berth(berth_env, "images", "--format", "json").stdout)
        names = json.dumps(imgs)
        assert f"{srv.addr}/lib/bb:v1" in names
        # push the local image by name to another repository of the same registry: its blobs are
        # mounted from the repository it came from (no upload), same digest
        out = json.loads(berth(berth_env, "push", "--tls-verify=false", "--format", "json",
                               f"{srv.addr}/lib/bb:v1", f"{srv.addr}/copy/bb:v1").stdout)
        assert out["digest"] == digest and out["blobs_uploaded"] == 0
        # the registry's gc keeps blobs the image store uses even once no manifest references them
        api = Api(srv.addr)
        for repo in ("lib/bb", "copy/bb"):
            assert api.req("DELETE", f"/v2/{repo}/manifests/{digest}")[0] == 202
        berth(berth_env, "registry", "gc", "--root", root, "--grace", "0")
        assert sorted(os.listdir(os.path.join(root, "blobs", "sha256"))) == layers_before
        # and the image store's prune keeps blobs a registry repository holds
        d2 = api.push_blob("keep/me", b"registry-only blob")
        berth(berth_env, "image", "prune", "--all")
        assert os.path.exists(os.path.join(root, "blobs", "sha256", d2[7:]))
        assert api.req("GET", f"/v2/keep/me/blobs/{d2}")[2] == b"registry-only blob"
    finally:
        srv.stop()
    r = berth(berth_env, "push", "--tls-verify=false", "no-such-image", f"{srv.addr}/x:y", check=False)
    assert r.returncode == 1 and "not found" in r.stderr
