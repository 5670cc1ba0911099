"""Upload sessions outlive `berth registry serve`: an upload started (POST, PATCH chunks) before
a restart, or a SIGKILL, resumes after it (status GET gives the right Range, more PATCH and the
final PUT work, the digest is verified); idle sessions expire after --upload-timeout, and
`berth registry gc` removes abandoned ones (file and record)."""
import json
import os
import socket
import subprocess
import threading
import time

from conftest import binary
from registry_helpers import Api, Server, sha256


def staging(root):
    d = os.path.join(root, "blobs", ".staging")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def start_upload(api, repo, data, upto):
    st, h, body = api.req("POST", f"/v2/{repo}/blobs/uploads/")
    assert st == 202, body
    loc = h["Location"]
    half = upto // 2
    for a, b in ((0, half), (half, upto)):
        st, h, body = api.req("PATCH", loc, data[a:b], {"Content-Range": f"{a}-{b - 1}",
                                                        "Content-Type": "application/octet-stream"})
        assert st == 202 and h["Range"] == f"0-{b - 1}", (st, h, body)
    return loc


def test_upload_resumes_after_restart_and_after_kill(berth_env, tmp_path):
    root = tmp_path / "root"
    data = os.urandom(3 << 20)
    d = sha256(data)
    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        loc = start_upload(api, "r/app", data, 1 << 20)
        # a second session, for the kill case below, and one whose final digest will be wrong
        loc_kill = start_upload(api, "r/app", data, 1 << 20)
        loc_bad = start_upload(api, "r/app", data, 1000)
    finally:
        srv.stop()   # SIGTERM: a clean stop keeps the sessions
    assert len([f for f in staging(str(root)) if f.startswith("session-")]) == 3

    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        st, h, body = api.req("GET", loc)
        assert st == 204 and h["Range"] == f"0-{(1 << 20) - 1}", (st, h, body)
        assert h["Location"] == loc
        # the session belongs to its repository only
        other = loc.replace("/v2/r/app/", "/v2/r/other/")
        assert api.req("GET", other)[0] == 404
        # a chunk that does not continue where the upload stands is still refused with the range
        st, h, body = api.req("PATCH", loc, data[5:10], {"Content-Range": "5-9"})
        assert st == 416 and h["Range"] == f"0-{(1 << 20) - 1}"
        st, h, body = api.req("PATCH", loc, data[1 << 20:2 << 20],
                              {"Content-Range": f"{1 << 20}-{(2 << 20) - 1}"})
        assert st == 202 and h["Range"] == f"0-{(2 << 20) - 1}"
        st, h, body = api.req("PUT", f"{loc}?digest={d}", data[2 << 20:],
                              {"Content-Range": f"{2 << 20}-{len(data) - 1}"})
        assert st == 201 and h["Docker-Content-Digest"] == d, body
        st, h, body = api.req("GET", f"/v2/r/app/blobs/{d}")
        assert st == 200 and body == data
        assert api.req("GET", loc)[0] == 404   # finished: gone

        # the digest is verified on what arrived before and after the restart
        st, h, body = api.req("PUT", f"{loc_bad}?digest={sha256(b'something else')}", data[1000:2000])
        assert st == 400 and api.error_code(body) == "DIGEST_INVALID"
        assert api.req("GET", loc_bad)[0] == 404

        # SIGKILL in the middle of a PATCH: what reached the disk counts, the client resumes there
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(f"PATCH {loc_kill} HTTP/1.1\r\nHost: x\r\nContent-Length: {1 << 20}\r\n\r\n".encode()
                  + data[1 << 20:(1 << 20) + 300000])
        name = "session-" + loc_kill.rsplit("/", 1)[1]
        path = os.path.join(root, "blobs", ".staging", name)
        deadline = time.time() + 10
        while time.time() < deadline and os.path.getsize(path) <= 1 << 20:
            time.sleep(0.05)
        srv.proc.kill()
        srv.proc.wait()
        s.close()
    finally:
        srv.stop()

    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        st, h, body = api.req("GET", loc_kill)
        assert st == 204
        off = int(h["Range"].split("-")[1]) + 1
        assert (1 << 20) < off <= (1 << 20) + 300000
        st, h, body = api.req("PUT", f"{loc_kill}?digest={d}", data[off:], {"Content-Range": f"{off}-{len(data) - 1}"})
        assert st == 201, body
        assert api.req("GET", f"/v2/r/app/blobs/{d}")[2] == data
        assert staging(str(root)) == []
    finally:
        srv.stop()


def test_idle_sessions_expire_and_gc_removes_abandoned_ones(berth_env, tmp_path):
    root = tmp_path / "root"
    data = os.urandom(200000)
    srv = Server(berth_env, root, extra=("--upload-timeout", "2"))
    try:
        api = Api(srv.addr)
        loc = start_upload(api, "e/app", data, 100000)
    finally:
        srv.stop()
    time.sleep(3)
    srv = Server(berth_env, root, extra=("--upload-timeout", "2"))
    try:
        # expired while no server ran: removed at start, file included
        assert staging(str(root)) == []
        api = Api(srv.addr)
        st, h, body = api.req("GET", loc)
        assert st == 404 and api.error_code(body) == "BLOB_UPLOAD_UNKNOWN"
        # expired while this server runs
        loc = start_upload(api, "e/app", data, 100000)
        time.sleep(3)
        st, h, body = api.req("PATCH", loc, data[100000:], {"Content-Range": f"100000-{len(data) - 1}"})
        assert st == 404 and api.error_code(body) == "BLOB_UPLOAD_UNKNOWN"
        assert staging(str(root)) == []
    finally:
        srv.stop()

    # a session from before a restart that nobody resumes is swept while the server runs (when
    # new sessions start), not only at the next start
    srv = Server(berth_env, root, extra=("--upload-timeout", "2"))
    try:
        loc = start_upload(Api(srv.addr), "e/app", data, 100000)
    finally:
        srv.stop()
    srv = Server(berth_env, root, extra=("--upload-timeout", "2"))
    try:
        api = Api(srv.addr)
        assert staging(str(root)) == ["session-" + loc.rsplit("/", 1)[1]]
        time.sleep(3)
        st, h, body = api.req("POST", "/v2/e/app/blobs/uploads/")
        assert st == 202
        assert staging(str(root)) == ["session-" + h["Location"].rsplit("/", 1)[1]]
    finally:
        srv.stop()

    # gc: an abandoned session (untouched for longer than max(--grace, 1 hour)) goes, file and
    # record; a recent one stays and still resumes
    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        old = start_upload(api, "e/app", data, 100000)
        new = start_upload(api, "e/app", data, 100000)
    finally:
        srv.stop()
    old_file = os.path.join(root, "blobs", ".staging", "session-" + old.rsplit("/", 1)[1])
    os.utime(old_file, (time.time() - 7300, time.time() - 7300))
    out = subprocess.run([binary("berth"), "registry", "gc", "--root", str(root), "--format", "json"],
                         env=berth_env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["staging_removed"] == 1
    assert not os.path.exists(old_file)
    srv = Server(berth_env, root, extra=("--upload-timeout", "86400"))
    try:
        api = Api(srv.addr)
        assert api.req("GET", old)[0] == 404
        st, h, body = api.req("GET", new)
        assert st == 204 and h["Range"] == "0-99999"
        st, h, body = api.req("PUT", f"{new}?digest={sha256(data)}", data[100000:],
                              {"Content-Range": f"100000-{len(data) - 1}"})
        assert st == 201, body
    finally:
        srv.stop()


def test_upload_timeout_is_validated(berth_env, tmp_path):
    r = subprocess.run([binary("berth"), "registry", "serve", "--root", str(tmp_path), "--upload-timeout", "soon"],
                       env=berth_env, capture_output=True, text=True)
    assert r.returncode == 125 and "--upload-timeout 'soon'" in r.stderr


def test_image_prune_on_a_shared_root_leaves_paused_uploads(berth_env, tmp_path):
    # the registry serves from the image store's own root; image prune cleans blobs/.staging of
    # leftovers older than a minute, but a paused upload session is the registry's to expire
    root = berth_env["BERTH_ROOT"]
    data = os.urandom(200000)
    srv = Server(berth_env, root)
    try:
        loc = start_upload(Api(srv.addr), "p/app", data, 100000)
        name = "session-" + loc.rsplit("/", 1)[1]
        old = time.time() - 600
        os.utime(os.path.join(root, "blobs", ".staging", name), (old, old))
        leftover = os.path.join(root, "blobs", ".staging", "upload-leftover")
        with open(leftover, "wb") as f:
            f.write(b"x")
        os.utime(leftover, (old, old))
        subprocess.run([binary("berth"), "image", "prune"], env=berth_env, check=True, capture_output=True)
        assert staging(root) == [name]
        api = Api(srv.addr)
        st, h, body = api.req("PUT", f"{loc}?digest={sha256(data)}", data[100000:],
                              {"Content-Range": f"100000-{len(data) - 1}"})
        assert st == 201, body
    finally:
        srv.stop()


def test_resuming_a_large_upload_does_not_hold_up_other_requests(berth_env, tmp_path):
    """Resuming re-hashes what the staging file holds (seconds for a multi-GB upload). Other
    uploads, and other requests on the same session, go on meanwhile: the second request on the
    session being reopened gets 409 at once, not after the re-hash."""
    root = tmp_path / "root"
    data = os.urandom(1 << 20)
    srv = Server(berth_env, root)
    try:
        loc = start_upload(Api(srv.addr), "big/app", data, len(data))
    finally:
        srv.stop()
    # 512 MiB more (sparse, no disk used) for the resume to re-hash
    path = os.path.join(root, "blobs", ".staging", "session-" + loc.rsplit("/", 1)[1])
    os.truncate(path, (1 << 20) + (512 << 20))

    srv = Server(berth_env, root)
    try:
        api = Api(srv.addr)
        resumed = {}

        def resume():
            resumed["status"] = api.req("GET", loc)
            resumed["at"] = time.monotonic()

        t = threading.Thread(target=resume)
        t.start()
        # wait until the server has the session in hand (its staging file is open for the re-hash)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                os.path.realpath(os.path.join(f"/proc/{srv.proc.pid}/fd", fd)) == path
                for fd in os.listdir(f"/proc/{srv.proc.pid}/fd")):
            time.sleep(0.01)
        other = b"another upload, not held up"
        d = api.push_blob("big/other", other)
        st, h, body = api.req("GET", loc)
        done_at = time.monotonic()
        assert st == 409 and api.error_code(body) == "BLOB_UPLOAD_INVALID", (st, body)
        t.join(60)
        assert resumed["at"] > done_at, "the other requests waited for the re-hash"
        st, h, body = resumed["status"]
        assert st == 204 and h["Range"] == f"0-{(1 << 20) + (512 << 20) - 1}", (st, h, body)
        assert api.req("GET", f"/v2/big/other/blobs/{d}")[2] == other
        # the session works after its reopening: cancel it, its file goes
        assert api.req("DELETE", loc)[0] == 204
        assert not os.path.exists(path)
    finally:
        srv.stop()
