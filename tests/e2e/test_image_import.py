"""berth image import/export against the real peers: OCI layouts and archives made by umoci and
skopeo, docker archives made by podman save, and exports loaded back by podman and skopeo."""
import json
import os
import shutil
import subprocess

import pytest

from image_helpers import Podman, berth, berth_json, store_files, tree, umoci_layout


@pytest.fixture(scope="module")
def images(busybox_rootfs, tmp_path_factory):
    """An OCI layout (umoci) and an OCI archive (skopeo) of the busybox rootfs, made once."""
    d = tmp_path_factory.mktemp("images")
    layout = str(d / "layout")
    umoci_layout(busybox_rootfs, layout)
    archive = str(d / "busybox.tar")
    subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:bb", f"oci-archive:{archive}:busybox:e2e"],
                   check=True, capture_output=True)
    return {"layout": layout, "archive": archive, "dir": str(d)}


@pytest.fixture
def podman(tmp_path):
    p = Podman(str(tmp_path))
    yield p
    p.cleanup()


def layer_dirs(env, name):
    info = berth(env, "image", "inspect", name).stdout
    return [l["Path"] for l in json.loads(info)[0]["LayerBlobs"]]


def test_import_skopeo_oci_archive(berth_env, images, busybox_rootfs):
    out = berth_json(berth_env, "image", "import", images["archive"])
    assert out["names"] == ["docker.io/library/busybox:e2e"]
    listed = berth_json(berth_env, "images")
    assert len(listed) == 1 and listed[0]["names"] == ["docker.io/library/busybox:e2e"]
    assert listed[0]["digest"] == out["digests"][0]
    # The unpacked layer is the rootfs, file for file.
    dirs = layer_dirs(berth_env, "busybox:e2e")
    assert len(dirs) == 1 and dirs[0].startswith(berth_env["BERTH_ROOT"])
    assert tree(dirs[0]) == tree(busybox_rootfs)
    cfg = json.loads(berth(berth_env, "image", "inspect", "busybox:e2e").stdout)[0]["Config"]
    assert cfg["Cmd"] == ["/bin/sh"] and "GREETING=hello" in cfg["Env"]
    # Lookups by short id and digest name the same image.
    short = listed[0]["id"][7:19]
    assert berth_json(berth_env, "image", "inspect", short)[0]["Digest"] == out["digests"][0]
    # Importing again changes nothing and shares the layer.
    berth(berth_env, "image", "import", images["archive"], "again:1")
    assert layer_dirs(berth_env, "again:1") == dirs
    assert len(berth_json(berth_env, "images")) == 1


def test_import_umoci_layout_dir_with_a_name(berth_env, images, busybox_rootfs):
    out = berth_json(berth_env, "image", "import", images["layout"], "example.com/team/box")
    # A name without a tag takes the layout's own tag.
    assert out["names"] == ["example.com/team/box:bb"]
    assert tree(layer_dirs(berth_env, "example.com/team/box:bb")[0]) == tree(busybox_rootfs)


def test_import_podman_docker_archive(berth_env, images, podman, busybox_rootfs, tmp_path):
    loaded = podman("load", "-i", images["archive"]).stdout.split("Loaded image:")[-1].strip()
    podman("tag", loaded, "docker.io/library/other:7")
    archive = str(tmp_path / "docker.tar")
    podman("save", "-m", "-o", archive, loaded, "docker.io/library/other:7")
    out = berth_json(berth_env, "image", "import", archive)
    assert sorted(out["names"]) == sorted([loaded, "docker.io/library/other:7"])
    assert tree(layer_dirs(berth_env, "other:7")[0]) == tree(busybox_rootfs)
    # The files of the archive that are not part of the image (VERSION, json) were not kept.
    img = berth_json(berth_env, "image", "inspect", "other:7")[0]
    blobs = set(store_files(berth_env["BERTH_ROOT"])["blobs"])
    wanted = {img["Digest"][7:], img["Id"][7:]} | {l["Digest"][7:] for l in img["LayerBlobs"]}
    assert blobs == wanted


def test_export_loads_in_podman_and_skopeo(berth_env, images, podman, busybox_rootfs, tmp_path):
    berth(berth_env, "image", "import", images["layout"], "roundtrip:1")
    out = str(tmp_path / "export.tar")
    berth(berth_env, "image", "export", "-o", out, "roundtrip:1")
    p = podman("load", "-i", out)
    assert "docker.io/library/roundtrip:1" in p.stdout + p.stderr
    mnt = podman("image", "mount", "docker.io/library/roundtrip:1").stdout.strip()
    try:
        assert tree(mnt) == tree(busybox_rootfs)
    finally:
        podman("image", "unmount", "docker.io/library/roundtrip:1", check=False)
    dest = str(tmp_path / "skopeo-dir")
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{out}", f"dir:{dest}"], check=True, capture_output=True)
    digest = berth_json(berth_env, "images")[0]["digest"]
    with open(os.path.join(dest, "manifest.json"), "rb") as f:
        import hashlib
        assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == digest
    # Export to stdout (a pipe) gives the same bytes.
    p = subprocess.run([*_berth_cmd(), "image", "export", "roundtrip:1"], env=berth_env, capture_output=True)
    assert p.returncode == 0
    with open(out, "rb") as f:
        assert f.read() == p.stdout


def _berth_cmd():
    from conftest import binary
    return [binary("berth")]


def test_unknown_image_and_bad_archives(berth_env, tmp_path, images):
    for verb in (["image", "inspect"], ["image", "rm"], ["image", "history"], ["image", "export", "-o",
                                                                              str(tmp_path / "x.tar")]):
        p = berth(berth_env, *verb, "nosuchimage", check=False)
        assert p.returncode != 0
        assert "image 'nosuchimage' not found" in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "x.tar")
    p = berth(berth_env, "image", "tag", "nosuchimage", "x", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(10000))
    p = berth(berth_env, "image", "import", str(junk), check=False)
    assert p.returncode == 1 and "not an image archive" in p.stderr, p.stderr
    p = berth(berth_env, "image", "import", str(tmp_path / "missing.tar"), check=False)
    assert p.returncode == 1 and "missing.tar" in p.stderr
    # A truncated archive.
    with open(images["archive"], "rb") as f:
        data = f.read()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    p = berth(berth_env, "image", "import", str(cut), check=False)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    p = berth(berth_env, "image", "import", images["archive"], "Bad:Name", check=False)
    assert p.returncode == 1 and "invalid image reference" in p.stderr
    assert berth_json(berth_env, "images") == []
    assert store_files(berth_env["BERTH_ROOT"]) == {"blobs": [], "layers": [], "staging": []}


def test_blob_digest_mismatch_is_refused(berth_env, images, tmp_path):
    bad = str(tmp_path / "bad-layout")
    shutil.copytree(images["layout"], bad)
    manifest_digest = json.load(open(os.path.join(bad, "index.json")))["manifests"][0]["digest"]
    manifest = json.load(open(os.path.join(bad, "blobs", "sha256", manifest_digest[7:])))
    layer = os.path.join(bad, "blobs", "sha256", manifest["layers"][0]["digest"][7:])
    data = bytearray(open(layer, "rb").read())
    data[len(data) // 2] ^= 0xFF
    os.chmod(layer, 0o644)
    open(layer, "wb").write(bytes(data))
    p = berth(berth_env, "image", "import", bad, check=False)
    assert p.returncode == 1
    assert "digest mismatch" in p.stderr, p.stderr
    assert berth_json(berth_env, "images") == []
    assert store_files(berth_env["BERTH_ROOT"]) == {"blobs": [], "layers": [], "staging": []}
    # The same damage inside an OCI archive.
    archive = str(tmp_path / "bad.tar")
    subprocess.run(["tar", "-C", bad, "-cf", archive, "."], check=True)
    p = berth(berth_env, "image", "import", archive, check=False)
    assert p.returncode == 1 and "digest mismatch" in p.stderr, p.stderr
    assert store_files(berth_env["BERTH_ROOT"]) == {"blobs": [], "layers": [], "staging": []}


def test_help_of_every_verb(berth_env):
    for verb in ("import", "export", "ls", "inspect", "tag", "rm", "prune", "history"):
        p = berth(berth_env, "image", verb, "--help")
        assert p.stdout.startswith("Usage: berth image " + verb) or "berth images" in p.stdout, verb
    assert "Usage: berth images" in berth(berth_env, "images", "--help").stdout
    assert "import" in berth(berth_env, "image", "--help").stdout
    p = berth(berth_env, "image", "frob", check=False)
    assert p.returncode == 125 and "unknown command 'frob'" in p.stderr
    p = berth(berth_env, "images", "--format", "yaml", check=False)
    assert p.returncode == 125 and "unknown --format 'yaml'" in p.stderr


def test_progress_on_a_tty_quiet_otherwise(berth_env, images):
    import pty
    from conftest import binary, read_pty
    master, slave = pty.openpty()
    p = subprocess.Popen([binary("berth"), "image", "import", images["archive"]], env=berth_env,
                         stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out = read_pty(master, 30)
    p.wait(timeout=30)
    os.close(master)
    assert p.returncode == 0
    text = out.decode(errors="replace")
    assert "Copying blobs" in text and "Unpacking layer 1/1" in text, text
    # Not a tty: nothing on stderr.
    berth(berth_env, "image", "rm", "busybox:e2e")
    q = berth(berth_env, "image", "import", images["archive"])
    assert q.stderr == ""


def test_multi_platform_index(berth_env, tmp_path):
    """A layout whose index.json points at an image index with amd64 and arm64 manifests."""
    import hashlib
    from image_helpers import file_entry, tar_bytes, write_oci_layout
    layout = tmp_path / "multi"
    amd = write_oci_layout(str(layout), [tar_bytes([file_entry("arch", b"amd64")])])
    index0 = json.load(open(layout / "index.json"))
    arm = write_oci_layout(str(layout), [tar_bytes([file_entry("arch", b"arm64")])],
                           config_extra={"architecture": "arm64"})
    sizes = {d: os.path.getsize(layout / "blobs" / "sha256" / d[7:]) for d in (amd, arm)}
    image_index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": sizes[arm],
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": sizes[amd],
         "platform": {"os": "linux", "architecture": "amd64"}}]}
    data = json.dumps(image_index).encode()
    idx_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / idx_digest[7:]).write_bytes(data)
    index0["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_digest,
                            "size": len(data), "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]
    (layout / "index.json").write_text(json.dumps(index0))

    out = berth_json(berth_env, "image", "import", str(layout))
    assert out["digests"] == [amd] and out["names"] == ["docker.io/library/multi:1"]
    path = berth_json(berth_env, "image", "inspect", "multi:1")[0]["LayerBlobs"][0]["Path"]
    assert open(os.path.join(path, "arch")).read() == "amd64"
    # The index digest names the image too (what `name@digest` of a multi-arch pull gives).
    assert berth_json(berth_env, "image", "inspect", "multi@" + idx_digest)[0]["Digest"] == amd
    # Another platform on request, from an archive this time.
    archive = str(tmp_path / "multi.tar")
    subprocess.run(["tar", "-C", str(layout), "-cf", archive, "."], check=True)
    out = berth_json(berth_env, "image", "import", "--platform", "linux/arm64", archive, "multi:arm")
    assert out["digests"] == [arm]
    p = berth(berth_env, "image", "import", "--platform", "linux/s390x", archive, check=False)
    assert p.returncode == 1 and "no image for linux/s390x" in p.stderr and "linux/arm64" in p.stderr


def test_docker_25_style_names_and_bare_tags(berth_env, tmp_path):
    """docker save >= 25 writes an OCI layout whose ref.name is only the tag, with the full name
    in io.containerd.image.name; umoci writes bare tags, which name nothing by themselves."""
    from image_helpers import file_entry, tar_bytes, write_oci_layout
    layout = tmp_path / "d25"
    write_oci_layout(str(layout), [tar_bytes([file_entry("x", b"1")])], ref_name="25")
    index = json.load(open(layout / "index.json"))
    index["manifests"][0]["annotations"]["io.containerd.image.name"] = "docker.io/library/dk:25"
    (layout / "index.json").write_text(json.dumps(index))
    assert berth_json(berth_env, "image", "import", str(layout))["names"] == ["docker.io/library/dk:25"]
    bare = tmp_path / "bare"
    write_oci_layout(str(bare), [tar_bytes([file_entry("x", b"2")])], ref_name="latest")
    out = berth_json(berth_env, "image", "import", str(bare))
    assert out["names"] == [] and len(out["digests"]) == 1
    p = berth(berth_env, "image", "import", str(bare))
    assert p.stdout.strip() == "Loaded image: " + out["digests"][0]
    listed = [i for i in berth_json(berth_env, "images") if i["digest"] == out["digests"][0]]
    assert listed[0]["names"] == []
    assert "<none>" in berth(berth_env, "images").stdout
