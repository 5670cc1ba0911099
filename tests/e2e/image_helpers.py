"""Helpers for the image e2e tests: run berth, build OCI layouts and archives by hand or with
umoci/skopeo, a private podman, and tree comparison."""
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

from conftest import binary


def berth(env, *args, check=True, input=None):
    p = subprocess.run([binary("berth"), *args], env=env, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"berth {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def berth_json(env, *args):
    return json.loads(berth(env, *args, "--format", "json").stdout)


def tree(root):
    """{relative path: (type, mode, content or link target)} without following symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", 0, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("f", stat.S_IMODE(st.st_mode), hashlib.sha256(f.read()).hexdigest())
            else:
                out[rel] = ("o", st.st_mode, st.st_rdev)
    return out


def store_files(root):
    """Every blob and unpacked layer dir in a BERTH_ROOT (to check that failures leave nothing)."""
    blobs = sorted(os.listdir(os.path.join(root, "blobs", "sha256"))) if os.path.isdir(os.path.join(root, "blobs", "sha256")) else []
    layers_dir = os.path.join(root, "layers")
    layers = sorted(n for n in os.listdir(layers_dir) if not n.startswith(".")) if os.path.isdir(layers_dir) else []
    staging = []
    for d in (os.path.join(root, "blobs", ".staging"), os.path.join(root, "layers", ".staging")):
        if os.path.isdir(d):
            staging += os.listdir(d)
    return {"blobs": blobs, "layers": layers, "staging": staging}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Entry(tarfile.TarInfo):
    """A TarInfo carrying its data (TarInfo itself has __slots__)."""
    __slots__ = ("data",)

    def __init__(self, name):
        super().__init__(name)
        self.data = None


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """entries: list of tarfile.TarInfo (with .data attribute for regular files)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti in entries:
            data = getattr(ti, "data", None)
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def file_entry(name, data=b"", mode=0o644):
    ti = Entry(name)
    ti.mode = mode
    ti.data = data
    return ti


def dir_entry(name):
    ti = Entry(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    return ti


def symlink_entry(name, target):
    ti = Entry(name)
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    return ti


def hardlink_entry(name, target):
    ti = Entry(name)
    ti.type = tarfile.LNKTYPE
    ti.linkname = target
    return ti


def device_entry(name, major=1, minor=3):
    ti = Entry(name)
    ti.type = tarfile.CHRTYPE
    ti.devmajor, ti.devminor = major, minor
    ti.mode = 0o666
    return ti


def write_oci_layout(path, layers, ref_name="test", diff_ids=None, compress=True, config_extra=None):
    """An OCI image layout at path with the given layer tars (bytes). diff_ids overrides the
    config's rootfs.diff_ids (to build lying images)."""
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = sha256(data)
        with open(os.path.join(blobs, d[7:]), "wb") as f:
            f.write(data)
        return d, len(data)

    descs = []
    ids = []
    for raw in layers:
        ids.append(sha256(raw))
        data = gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw
        d, n = put(data)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else ""),
                      "digest": d, "size": n})
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids if diff_ids is not None else ids}}
    if config_extra:
        config.update(config_extra)
    cd, cn = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                "layers": descs}
    md, mn = put(json.dumps(manifest).encode())
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
             "annotations": {"org.opencontainers.image.ref.name": ref_name}}]}, f)
    return md


def umoci_layout(rootfs, dest, tag="bb"):
    """An OCI layout made by umoci from a root filesystem."""
    subprocess.run(["umoci", "init", "--layout", dest], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{dest}:{tag}"], check=True, capture_output=True)
    subprocess.run(["umoci", "insert", "--image", f"{dest}:{tag}", rootfs, "/"], check=True, capture_output=True)
    subprocess.run(["umoci", "config", "--image", f"{dest}:{tag}", "--config.cmd", "/bin/sh",
                    "--config.env", "GREETING=hello"], check=True, capture_output=True)


class Podman:
    """podman with its own --root/--runroot in a temp dir: the machine's podman state is untouched."""

    def __init__(self, base):
        self.root = os.path.join(base, "podman-root")
        # podman limits the runroot path to 50 characters.
        self.runroot = tempfile.mkdtemp(prefix="bpod-", dir="/tmp")
        self.tmp = os.path.join(base, "podman-tmp")
        os.makedirs(self.tmp, exist_ok=True)

    def __call__(self, *args, check=True):
        env = dict(os.environ, TMPDIR=self.tmp)
        p = subprocess.run(["podman", "--root", self.root, "--runroot", self.runroot, "--storage-driver", "vfs",
                            "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args],
                           capture_output=True, text=True, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed: {p.stderr}")
        return p

    def cleanup(self):
        self("rmi", "-a", "-f", check=False)
        for d in (self.root, self.runroot):
            subprocess.run(["umount", "-R", "-l", d], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)
