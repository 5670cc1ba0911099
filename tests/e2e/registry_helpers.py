"""Helpers shared by the registry e2e tests: free ports, starting `berth registry serve` and
Debian's docker-registry on 127.0.0.1, building an OCI layout from the busybox rootfs, and a
tiny distribution-API client over http.client."""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class Server:
    """A running `berth registry serve`; stop() ends it by its pid."""

    def __init__(self, env, root, extra=(), log_path=None):
        self.port = free_port()
        self.root = str(root)
        self.log_path = log_path or os.path.join(os.path.dirname(self.root), f"registry-{self.port}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary("berth"), "registry", "serve", "--addr", f"127.0.0.1:{self.port}",
                                      "--root", self.root, *extra], env=env, stdout=self.log, stderr=self.log)
        wait_port(self.port, self.proc)
        self.addr = f"127.0.0.1:{self.port}"

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


class DockerRegistry:
    """Debian's docker-registry with its own config and storage on a free port."""

    def __init__(self, tmp, htpasswd=None):
        exe = shutil.which("docker-registry")
        if not exe:
            pytest.skip("docker-registry is not installed")
        self.port = free_port()
        storage = os.path.join(tmp, f"docker-registry-{self.port}")
        os.makedirs(storage)
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
        cfg = os.path.join(tmp, f"docker-registry-{self.port}.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{self.port}\n{auth}")
        self.log = open(os.path.join(tmp, f"docker-registry-{self.port}.log"), "w")
        self.proc = subprocess.Popen([exe, "serve", cfg], stdout=self.log, stderr=self.log)
        wait_port(self.port, self.proc)
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_oci_layout(rootfs, dest, tag="latest", extra_layer=None):
    """An OCI layout at dest holding one image (tag) made from rootfs with umoci; extra_layer is an
    optional directory added as a second layer."""
    if not shutil.which("umoci"):
        pytest.skip("umoci is not installed")
    subprocess.run(["umoci", "init", "--layout", dest], check=True)
    subprocess.run(["umoci", "new", "--image", f"{dest}:{tag}"], check=True)
    bundle = dest + ".bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{dest}:{tag}", bundle], check=True,
                   capture_output=True)
    shutil.rmtree(os.path.join(bundle, "rootfs"))
    shutil.copytree(rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
    subprocess.run(["umoci", "repack", "--refresh-bundle", "--image", f"{dest}:{tag}", bundle], check=True,
                   capture_output=True)
    if extra_layer:
        for name in os.listdir(extra_layer):
            src = os.path.join(extra_layer, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(bundle, "rootfs", name))
        subprocess.run(["umoci", "repack", "--image", f"{dest}:{tag}", bundle], check=True, capture_output=True)
    subprocess.run(["umoci", "config", "--image", f"{dest}:{tag}", "--config.cmd", "/bin/sh"], check=True)
    shutil.rmtree(bundle, ignore_errors=True)
    with open(os.path.join(dest, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Api:
    """Minimal distribution-API client: each call is one request on a fresh connection."""

    def __init__(self, addr, auth=None):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.auth = auth

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = self.auth
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def error_code(self, data):
        return json.loads(data)["errors"][0]["code"]

    def push_blob(self, repo, data):
        d = sha256(data)
        st, h, body = self.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
                               {"Content-Type": "application/octet-stream"})
        assert st == 201, body
        return d

    def push_manifest(self, repo, ref, manifest, media_type="application/vnd.oci.image.manifest.v1+json"):
        data = json.dumps(manifest).encode()
        st, h, body = self.req("PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type})
        return st, h, body, sha256(data)

    def image(self, repo, tag, layers=(b"layer-one",), config=b'{"architecture":"amd64","os":"linux"}',
              subject=None, artifact_type=None):
        """Pushes blobs and a manifest; returns (manifest digest, manifest dict)."""
        cd = self.push_blob(repo, config)
        descs = []
        for l in layers:
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": self.push_blob(repo, l),
                          "size": len(l)})
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
             "layers": descs}
        if subject:
            m["subject"] = subject
        if artifact_type:
            m["artifactType"] = artifact_type
        st, h, body, d = self.push_manifest(repo, tag, m)
        assert st == 201, body
        assert h["Docker-Content-Digest"] == d
        return d, m
