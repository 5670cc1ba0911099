"""`berth registry serve` speaks the distribution spec: uploads (monolithic, chunked, resumable
status, cancel, mount), manifests by tag and digest, tags paging, referrers, spec error codes,
atomic uploads, and keeps serving through bad clients, a full disk and many concurrent clients."""
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import binary
from registry_helpers import Api, Server, sha256


@pytest.fixture
def registry(berth_env, tmp_path):
    srv = Server(berth_env, tmp_path / "regroot")
    yield srv
    srv.stop()


def staging_files(root):
    d = os.path.join(root, "blobs", ".staging")
    return os.listdir(d) if os.path.isdir(d) else []


def test_base_and_error_forms(registry):
    api = Api(registry.addr)
    st, h, body = api.req("GET", "/v2/")
    assert st == 200 and h["Docker-Distribution-API-Version"] == "registry/2.0"
    st, h, body = api.req("GET", "/v2/UPPER/tags/list")
    assert st == 400 and api.error_code(body) == "NAME_INVALID"
    st, h, body = api.req("GET", "/v2/a--b/tags/list")
    assert st == 404 and api.error_code(body) == "NAME_UNKNOWN"
    st, h, body = api.req("GET", "/v2/ok/blobs/sha256:" + "0" * 64)
    assert st == 404 and api.error_code(body) == "BLOB_UNKNOWN"
    st, h, body = api.req("GET", "/v2/ok/blobs/md5:abc")
    assert st == 400 and api.error_code(body) == "DIGEST_INVALID"
    st, h, body = api.req("GET", "/v2/ok/manifests/latest")
    assert st == 404 and api.error_code(body) == "MANIFEST_UNKNOWN"
    errors = json.loads(body)["errors"]
    assert set(errors[0]) >= {"code", "message"}


def test_tls_handshake_on_plain_listener_is_one_clear_log_line(registry):
    """skopeo and podman try TLS first when told not to verify it: the log says so in one line,
    not the library's HTML error page, and the server keeps answering. (A ClientHello's random
    bytes decide how the library reads it; about one in 40 is closed without a log line, so a few
    handshakes are tried.)"""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    logs = ""
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", registry.port), timeout=10) as raw:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(raw)   # a real ClientHello; the answer is plain HTTP
        st, h, body = Api(registry.addr).req("GET", "/v2/")
        assert st == 200
        # the refusing connection's thread may log after the GET above
        for _ in range(10):
            logs = registry.logs()
            if "refused a request that is not valid HTTP" in logs:
                break
            time.sleep(0.1)
        if "refused a request" in logs:
            break
    assert re.search(r"refused a request that is not valid HTTP with (400|505) \(a client trying TLS", logs), logs
    assert "<html>" not in logs, logs


def test_uploads_monolithic_chunked_and_bad_range(registry):
    api = Api(registry.addr)
    # monolithic
    d = api.push_blob("a/b", b"hello world")
    st, h, body = api.req("GET", f"/v2/a/b/blobs/{d}")
    assert st == 200 and body == b"hello world" and h["Docker-Content-Digest"] == d
    st, h, body = api.req("HEAD", f"/v2/a/b/blobs/{d}")
    assert st == 200 and h["Content-Length"] == "11" and body == b""
    st, h, body = api.req("GET", f"/v2/a/b/blobs/{d}", headers={"Range": "bytes=6-"})
    assert st == 206 and body == b"world" and h["Content-Range"] == "bytes 6-10/11"
    st, h, body = api.req("GET", f"/v2/a/b/blobs/{d}", headers={"Range": "bytes=50-60"})
    assert st == 416
    # the blob is not visible in another repository
    st, h, body = api.req("HEAD", f"/v2/other/blobs/{d}")
    assert st == 404
    # chunked session
    data = os.urandom(300000)
    st, h, body = api.req("POST", "/v2/a/b/blobs/uploads/")
    assert st == 202
    loc = h["Location"]
    st, h, body = api.req("PATCH", loc, data[:100000], {"Content-Range": "0-99999",
                                                          "Content-Type": "application/octet-stream"})
    assert st == 202 and h["Range"] == "0-99999"
    # a chunk that does not start where the upload stands: 416 with the current range
    st, h, body = api.req("PATCH", loc, data[200000:], {"Content-Range": "200000-299999"})
    assert st == 416 and h["Range"] == "0-99999"
    st, h, body = api.req("GET", loc)
    assert st == 204 and h["Range"] == "0-99999"
    st, h, body = api.req("PATCH", loc, data[100000:200000], {"Content-Range": "100000-199999"})
    assert st == 202
    st, h, body = api.req("PUT", f"{loc}?digest={sha256(data)}", data[200000:],
                          {"Content-Range": "200000-299999"})
    assert st == 201 and h["Docker-Content-Digest"] == sha256(data)
    st, h, body = api.req("GET", f"/v2/a/b/blobs/{sha256(data)}")
    assert body == data
    # finished sessions are gone
    st, h, body = api.req("GET", loc)
    assert st == 404 and api.error_code(body) == "BLOB_UPLOAD_UNKNOWN"
    # cancel
    st, h, body = api.req("POST", "/v2/a/b/blobs/uploads/")
    loc = h["Location"]
    api.req("PATCH", loc, b"partial")
    st, h, body = api.req("DELETE", loc)
    assert st == 204
    st, h, body = api.req("GET", loc)
    assert st == 404
    assert staging_files(registry.root) == []


def test_wrong_digest_is_refused_and_nothing_published(registry):
    api = Api(registry.addr)
    wrong = sha256(b"something else")
    st, h, body = api.req("POST", f"/v2/x/blobs/uploads/?digest={wrong}", b"actual content")
    assert st == 400 and api.error_code(body) == "DIGEST_INVALID"
    assert not os.path.exists(os.path.join(registry.root, "blobs/sha256", wrong[7:]))
    assert not os.path.exists(os.path.join(registry.root, "blobs/sha256", sha256(b"actual content")[7:]))
    st, h, body = api.req("POST", "/v2/x/blobs/uploads/")
    st, h, body = api.req("PUT", f"{h['Location']}?digest={wrong}", b"actual content")
    assert st == 400 and api.error_code(body) == "DIGEST_INVALID"
    assert staging_files(registry.root) == []


def test_manifests_tags_referrers_mount_delete(registry):
    api = Api(registry.addr)
    d, m = api.image("lib/app", "v1")
    # missing blobs are refused
    bad = dict(m, layers=[{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b"nope"),
                           "size": 4}])
    st, h, body, _ = api.push_manifest("lib/app", "broken", bad)
    assert st == 400 and api.error_code(body) == "MANIFEST_BLOB_UNKNOWN"
    assert json.loads(body)["errors"][0]["detail"]["digest"] == sha256(b"nope")
    # a digest in the URL that does not match the content
    st, h, body, _ = api.push_manifest("lib/app", sha256(b"x"), m)
    assert st == 400 and api.error_code(body) == "DIGEST_INVALID"
    st, h, body, _ = api.push_manifest("lib/app", "junk", {"schemaVersion": 2}, "application/json")
    assert st == 400 and api.error_code(body) == "MANIFEST_INVALID"
    # get by tag and digest, HEAD
    for ref in ("v1", d):
        st, h, body = api.req("GET", f"/v2/lib/app/manifests/{ref}",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert st == 200 and sha256(body) == d and h["Docker-Content-Digest"] == d
        assert h["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    st, h, body = api.req("HEAD", "/v2/lib/app/manifests/v1")
    assert st == 200 and body == b"" and h["Docker-Content-Digest"] == d
    # Docker schema 2 manifest and an index referencing both
    dm = dict(m, mediaType="application/vnd.docker.distribution.manifest.v2+json")
    dm["config"] = dict(m["config"], mediaType="application/vnd.docker.container.image.v1+json")
    st, h, body, dd = api.push_manifest("lib/app", "docker", dm, "application/vnd.docker.distribution.manifest.v2+json")
    assert st == 201, body
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": len(json.dumps(m)),
         "platform": {"os": "linux", "architecture": "amd64"}}]}
    st, h, body, di = api.push_manifest("lib/app", "multi", idx, "application/vnd.oci.image.index.v1+json")
    assert st == 201, body
    badidx = dict(idx, manifests=[dict(idx["manifests"][0], digest=sha256(b"zz"))])
    st, h, body, _ = api.push_manifest("lib/app", "multi2", badidx, "application/vnd.oci.image.index.v1+json")
    assert st == 400 and api.error_code(body) == "MANIFEST_BLOB_UNKNOWN"
    # tags and paging
    for t in ("a1", "a2", "a3"):
        assert api.push_manifest("lib/app", t, m)[0] == 201
    st, h, body = api.req("GET", "/v2/lib/app/tags/list")
    assert json.loads(body)["tags"] == ["a1", "a2", "a3", "docker", "multi", "v1"]
    st, h, body = api.req("GET", "/v2/lib/app/tags/list?n=2")
    assert json.loads(body)["tags"] == ["a1", "a2"] and "last=a2" in h["Link"] and 'rel="next"' in h["Link"]
    st, h, body = api.req("GET", "/v2/lib/app/tags/list?n=2&last=a2")
    assert json.loads(body)["tags"] == ["a3", "docker"]
    st, h, body = api.req("GET", "/v2/lib/app/tags/list?n=10&last=v1")
    assert json.loads(body)["tags"] == [] and "Link" not in h
    # referrers
    subj = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": len(json.dumps(m))}
    r1, _ = api.image("lib/app", "sig", layers=(b"signature",), subject=subj, artifact_type="application/x-sig")
    r2, _ = api.image("lib/app", "sbom", layers=(b"sbom",), subject=subj, artifact_type="application/x-sbom")
    st, h, body = api.req("GET", f"/v2/lib/app/referrers/{d}")
    got = json.loads(body)
    assert st == 200 and got["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(x["digest"] for x in got["manifests"]) == sorted([r1, r2])
    st, h, body = api.req("GET", f"/v2/lib/app/referrers/{d}?artifactType=application/x-sbom")
    got = json.loads(body)
    assert [x["digest"] for x in got["manifests"]] == [r2] and h["OCI-Filters-Applied"] == "artifactType"
    assert got["manifests"][0]["artifactType"] == "application/x-sbom"
    st, h, body = api.req("GET", f"/v2/lib/app/referrers/{r1}")
    assert json.loads(body)["manifests"] == []
    # cross-repository mount
    layer = m["layers"][0]["digest"]
    st, h, body = api.req("POST", f"/v2/other/repo/blobs/uploads/?mount={layer}&from=lib/app")
    assert st == 201 and h["Docker-Content-Digest"] == layer
    st, h, body = api.req("HEAD", f"/v2/other/repo/blobs/{layer}")
    assert st == 200
    # not mountable: falls back to an upload session
    st, h, body = api.req("POST", f"/v2/third/blobs/uploads/?mount={layer}&from=nowhere")
    assert st == 202 and "/blobs/uploads/" in h["Location"]
    # deletes
    st, h, body = api.req("DELETE", "/v2/lib/app/manifests/a3")
    assert st == 202
    st, h, body = api.req("GET", "/v2/lib/app/manifests/a3")
    assert st == 404
    st, h, body = api.req("DELETE", f"/v2/lib/app/manifests/{d}")
    assert st == 202
    st, h, body = api.req("GET", "/v2/lib/app/manifests/v1")
    assert st == 404 and api.error_code(body) == "MANIFEST_UNKNOWN"
    st, h, body = api.req("DELETE", f"/v2/other/repo/blobs/{layer}")
    assert st == 202
    st, h, body = api.req("HEAD", f"/v2/other/repo/blobs/{layer}")
    assert st == 404
    st, h, body = api.req("GET", "/v2/_catalog")
    assert "lib/app" in json.loads(body)["repositories"]


def test_gc_removes_unreferenced_blobs(registry, berth_env):
    api = Api(registry.addr)
    d, m = api.image("gc/app", "v1", layers=(b"keep me",))
    d2, m2 = api.image("gc/app", "v2", layers=(b"drop me",))
    api.req("DELETE", f"/v2/gc/app/manifests/{d2}")
    dropped = m2["layers"][0]["digest"]
    kept = m["layers"][0]["digest"]
    blob = lambda dg: os.path.join(registry.root, "blobs/sha256", dg[7:])
    # within the grace period nothing goes (a push in flight looks just like this)
    out = subprocess.run([binary("berth"), "registry", "gc", "--root", registry.root, "--format", "json"],
                         env=berth_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["blobs_removed"] == 0 and os.path.exists(blob(dropped))
    out = subprocess.run([binary("berth"), "registry", "gc", "--root", registry.root, "--grace", "0", "--format",
                          "json"], env=berth_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["blobs_removed"] >= 1
    assert not os.path.exists(blob(dropped)) and not os.path.exists(blob(d2))
    assert os.path.exists(blob(kept))
    st, h, body = api.req("GET", "/v2/gc/app/manifests/v1")
    assert st == 200 and sha256(body) == d
    st, h, body = api.req("GET", f"/v2/gc/app/blobs/{dropped}")
    assert st == 404
    # an upload abandoned hours ago leaves a staging file that gc removes; a fresh one stays
    staging = os.path.join(registry.root, "blobs", ".staging")
    old, fresh = os.path.join(staging, "upload-old123"), os.path.join(staging, "upload-new123")
    for p in (old, fresh):
        with open(p, "wb") as f:
            f.write(b"x" * 100)
    os.utime(old, (0, 0))
    out = subprocess.run([binary("berth"), "registry", "gc", "--root", registry.root, "--format", "json"],
                         env=berth_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["staging_removed"] == 1
    assert not os.path.exists(old) and os.path.exists(fresh)
    os.unlink(fresh)


def test_client_disconnecting_mid_upload_leaves_nothing(registry):
    api = Api(registry.addr)
    data = os.urandom(2 << 20)
    d = sha256(data)
    s = socket.create_connection(("127.0.0.1", registry.port))
    s.sendall(f"POST /v2/cut/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + data[:300000])
    s.close()
    # a session upload cut mid-PATCH keeps what arrived and reports it for resuming
    st, h, body = api.req("POST", "/v2/cut/blobs/uploads/")
    loc = h["Location"]
    s = socket.create_connection(("127.0.0.1", registry.port))
    s.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:500000])
    s.close()
    for _ in range(100):
        st, h, body = api.req("GET", loc)
        if st == 204 and h["Range"] != "0-0":
            break
    assert st == 204
    off = int(h["Range"].split("-")[1]) + 1
    assert 0 < off <= 500000
    st, h, body = api.req("PUT", f"{loc}?digest={d}", data[off:], {"Content-Range": f"{off}-{len(data) - 1}"})
    assert st == 201, body
    st, h, body = api.req("GET", f"/v2/cut/blobs/{d}")
    assert body == data
    assert registry.alive()
    assert staging_files(registry.root) == []


def test_full_disk_gives_clear_error_and_registry_keeps_serving(berth_env, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
    srv = None
    try:
        srv = Server(berth_env, mnt / "root", log_path=str(tmp_path / "full.log"))
        api = Api(srv.addr)
        big = os.urandom(4 << 20)
        st, h, body = api.req("POST", f"/v2/full/blobs/uploads/?digest={sha256(big)}", big)
        assert st == 507 and api.error_code(body) == "BLOB_UPLOAD_INVALID"
        st, h, body = api.req("POST", "/v2/full/blobs/uploads/")
        st, h, body = api.req("PATCH", h["Location"], big)
        assert st == 507
        assert staging_files(str(mnt / "root")) == []
        assert not os.path.exists(mnt / "root/blobs/sha256" / sha256(big)[7:])
        # space came back: small pushes and pulls work
        d = api.push_blob("full", b"small blob")
        st, h, body = api.req("GET", f"/v2/full/blobs/{d}")
        assert st == 200 and body == b"small blob"
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", str(mnt)], check=True)


def test_concurrent_clients(registry):
    api = Api(registry.addr)
    errors = []

    def worker(i):
        try:
            data = os.urandom(200000 + i)
            repo = f"conc/r{i % 4}"
            d = Api(registry.addr).push_blob(repo, data)
            for _ in range(3):
                st, h, body = Api(registry.addr).req("GET", f"/v2/{repo}/blobs/{d}")
                assert st == 200 and body == data
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    # a slow client holding a connection open does not block the others
    slow = socket.create_connection(("127.0.0.1", registry.port))
    slow.sendall(b"GET /v2/ HTTP/1.1\r\n")
    for t in threads:
        t.join()
    slow.close()
    assert errors == []
    st, h, body = api.req("GET", "/v2/")
    assert st == 200


def test_max_blob_size(berth_env, tmp_path):
    srv = Server(berth_env, tmp_path / "root", extra=["--max-blob-size", "1K"])
    try:
        api = Api(srv.addr)
        big = os.urandom(4096)
        st, h, body = api.req("POST", f"/v2/lim/blobs/uploads/?digest={sha256(big)}", big)
        assert st == 413 and api.error_code(body) == "SIZE_INVALID"
        st, h, body = api.req("POST", "/v2/lim/blobs/uploads/")
        loc = h["Location"]
        assert api.req("PATCH", loc, big[:1000])[0] == 202
        st, h, body = api.req("PATCH", loc, big[1000:2000], {"Content-Range": "1000-1999"})
        assert st == 413
        assert api.push_blob("lim", b"small") == sha256(b"small")
        assert staging_files(srv.root) == [] or len(staging_files(srv.root)) == 1   # the open session's file
    finally:
        srv.stop()
    r = subprocess.run([binary("berth"), "registry", "serve", "--max-blob-size", "lots"], env=berth_env,
                       capture_output=True, text=True)
    assert r.returncode == 125 and "--max-blob-size" in r.stderr


def test_killed_server_mid_upload_leaves_no_partial_blob(berth_env, tmp_path):
    root = tmp_path / "root"
    srv = Server(berth_env, root)
    data = os.urandom(1 << 20)
    d = sha256(data)
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        s.sendall(f"POST /v2/k/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
                  .encode() + data[:400000])
        import time
        deadline = time.time() + 5
        while time.time() < deadline and not any(os.path.getsize(os.path.join(root, "blobs/.staging", f)) > 0
                                                 for f in staging_files(str(root))):
            time.sleep(0.05)
        srv.proc.kill()   # SIGKILL: no cleanup runs
        srv.proc.wait()
    finally:
        s.close()
        srv.stop()
    assert not os.path.exists(root / "blobs/sha256" / d[7:])
    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        st, h, body = api.req("HEAD", f"/v2/k/blobs/{d}")
        assert st == 404
        assert api.push_blob("k", data) == d
        assert api.req("GET", f"/v2/k/blobs/{d}")[2] == data
    finally:
        srv.stop()
