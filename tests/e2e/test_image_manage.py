"""berth image tag/rm/prune/history/ls and import --rootfs, as a user runs them."""
import os
import subprocess

from image_helpers import berth, berth_json, file_entry, store_files, tar_bytes, tree, write_oci_layout


def test_rootfs_import_from_dir_and_tar(berth_env, busybox_rootfs, tmp_path):
    out = berth_json(berth_env, "image", "import", "--rootfs", "--cmd", "/bin/sh", "--cmd", "-l", "-e", "A=b",
                     "-w", "/root", busybox_rootfs, "local/bb:dir")
    assert out["names"] == ["local/bb:dir"]
    img = berth_json(berth_env, "image", "inspect", "local/bb:dir")[0]
    assert img["Config"]["Cmd"] == ["/bin/sh", "-l"]
    assert img["Config"]["Env"] == ["A=b"]
    assert img["Config"]["WorkingDir"] == "/root"
    assert len(img["LayerBlobs"]) == 1
    layer = img["LayerBlobs"][0]
    # An uncompressed layer: its digest is its diff_id.
    assert layer["Digest"] == layer["DiffID"] == img["RootFS"]["Layers"][0]
    assert tree(layer["Path"]) == tree(busybox_rootfs)

    tarball = str(tmp_path / "rootfs.tar.gz")
    subprocess.run(["tar", "-C", busybox_rootfs, "-czf", tarball, "."], check=True)
    berth(berth_env, "image", "import", "--rootfs", tarball, "local/bb:tar")
    img2 = berth_json(berth_env, "image", "inspect", "local/bb:tar")[0]
    assert tree(img2["LayerBlobs"][0]["Path"]) == tree(busybox_rootfs)
    assert img2["Config"]["Env"][0].startswith("PATH=")

    p = berth(berth_env, "image", "import", "--rootfs", str(tmp_path / "nope"), "x", check=False)
    assert p.returncode == 1 and "nope" in p.stderr
    p = berth(berth_env, "image", "import", "--cmd", "x", busybox_rootfs, check=False)
    assert p.returncode == 125 and "go with --rootfs" in p.stderr


def _small_image(env, tmp_path, name, content):
    layout = tmp_path / f"layout-{content}"
    write_oci_layout(str(layout), [tar_bytes([file_entry("f", content.encode())])], ref_name="v",
                     config_extra={"history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"make {content}"}]})
    return berth_json(env, "image", "import", str(layout), name)["digests"][0]


def test_tag_rm_and_prune(berth_env, tmp_path):
    d1 = _small_image(berth_env, tmp_path, "one:1", "one")
    d2 = _small_image(berth_env, tmp_path, "two:1", "two")
    berth(berth_env, "image", "tag", "one:1", "one:alias", "quay.io/x/one:2")
    names = {i["digest"]: i["names"] for i in berth_json(berth_env, "images")}
    assert names[d1] == ["docker.io/library/one:1", "docker.io/library/one:alias", "quay.io/x/one:2"]
    # Text listing: one line per name, plus the header.
    lines = berth(berth_env, "images").stdout.splitlines()
    assert lines[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"]
    assert len(lines) == 1 + 4
    assert len(berth(berth_env, "images", "-q").stdout.split()) == 2  # one id per image
    # Filtering by repository, and by repository and tag.
    assert [i["digest"] for i in berth_json(berth_env, "images", "one")] == [d1]
    assert [i["digest"] for i in berth_json(berth_env, "images", "docker.io/library/two:1")] == [d2]
    assert berth_json(berth_env, "images", "two:2") == []
    # As docker images: the rows of that repository only, not the image's other names.
    rows = berth(berth_env, "images", "quay.io/x/one").stdout.splitlines()[1:]
    assert [r.split()[:2] for r in rows] == [["quay.io/x/one", "2"]]

    # rm of one name of several only untags.
    p = berth(berth_env, "image", "rm", "one:alias")
    assert "Untagged" in p.stdout
    assert berth_json(berth_env, "image", "inspect", d1)[0]["RepoTags"] == ["docker.io/library/one:1",
                                                                             "quay.io/x/one:2"]
    # Moving a name leaves the other image untagged; prune removes it and what only it used.
    berth(berth_env, "image", "tag", "two:1", "one:1", "quay.io/x/one:2")
    assert berth_json(berth_env, "image", "inspect", d1)[0]["RepoTags"] == []
    before = store_files(berth_env["BERTH_ROOT"])
    assert len(before["layers"]) == 2
    res = berth_json(berth_env, "image", "prune")
    assert res["images"] == 1 and res["layers"] == 1 and res["blobs"] == 3
    after = store_files(berth_env["BERTH_ROOT"])
    assert len(after["layers"]) == 1 and len(after["blobs"]) == 3
    assert [i["digest"] for i in berth_json(berth_env, "images")] == [d2]
    # Removing by the last of an image's names removes the image.
    p = berth(berth_env, "image", "rm", "quay.io/x/one:2", "one:1")
    assert p.stdout.splitlines() == ["Untagged: quay.io/x/one:2", "Untagged: one:1"]
    # Nothing unused any more: prune frees nothing.
    assert berth_json(berth_env, "image", "prune")["blobs"] == 0
    # rm of the last image, then prune empties the store.
    p = berth(berth_env, "image", "rm", d2[7:19])
    assert "Deleted" in p.stdout
    res = berth_json(berth_env, "image", "prune")
    assert res["images"] == 0 and res["blobs"] == 3 and res["layers"] == 1
    assert store_files(berth_env["BERTH_ROOT"]) == {"blobs": [], "layers": [], "staging": []}
    p = berth(berth_env, "image", "rm", "two:1", check=False)
    assert p.returncode == 1 and "image 'two:1' not found" in p.stderr


def test_prune_all_and_ambiguous_ids(berth_env, tmp_path):
    _small_image(berth_env, tmp_path, "a:1", "a")
    _small_image(berth_env, tmp_path, "b:1", "b")
    assert berth_json(berth_env, "image", "prune")["images"] == 0
    assert berth_json(berth_env, "image", "prune", "-a")["images"] == 2
    assert berth_json(berth_env, "images") == []
    p = berth(berth_env, "image", "tag", "a:1", "b", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    p = berth(berth_env, "image", "tag", "sha256:zz", "b", check=False)
    assert p.returncode == 1


def test_history(berth_env, tmp_path):
    _small_image(berth_env, tmp_path, "h:1", "hist")
    rows = berth_json(berth_env, "image", "history", "h:1")
    assert len(rows) == 1
    assert rows[0]["created_by"] == "make hist" and rows[0]["size"] > 0
    text = berth(berth_env, "image", "history", "h:1").stdout
    assert "make hist" in text and text.startswith("LAYER")
    p = berth(berth_env, "image", "history", "h:1", "h:1", check=False)
    assert p.returncode == 125


def test_parallel_imports_share_layers(berth_env, tmp_path):
    layout = tmp_path / "layout"
    write_oci_layout(str(layout), [tar_bytes([file_entry(f"f{i}", b"x" * 1000) for i in range(200)])])
    from conftest import binary
    procs = [subprocess.Popen([binary("berth"), "image", "import", "-q", str(layout), f"p:{i}"], env=berth_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    imgs = berth_json(berth_env, "images")
    assert len(imgs) == 1 and len(imgs[0]["names"]) == 4
    files = store_files(berth_env["BERTH_ROOT"])
    assert len(files["layers"]) == 1 and files["staging"] == []


def test_kill_9_during_import_leaves_nothing_prune_cannot_clean(berth_env, tmp_path):
    import signal
    import time
    from conftest import binary
    layout = tmp_path / "big"
    # Many small files: the unpack takes long enough to be interrupted.
    write_oci_layout(str(layout), [tar_bytes([file_entry(f"d{i // 100}/f{i}", b"y" * 512) for i in range(1500)])])
    killed = False
    for delay in (0.3, 0.15, 0.05):
        p = subprocess.Popen([binary("berth"), "image", "import", "-q", str(layout), "k:1"], env=berth_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed = True
            break
        p.wait()
        berth(berth_env, "image", "rm", "k:1")
        berth(berth_env, "image", "prune")
    assert killed, "import always finished before the kill"
    # Whatever state it died in, the next commands work and prune empties the store.
    berth(berth_env, "images")
    if berth_json(berth_env, "images"):
        berth(berth_env, "image", "rm", "k:1")
    berth(berth_env, "image", "prune")
    files = store_files(berth_env["BERTH_ROOT"])
    assert files["layers"] == [] and files["blobs"] == []
    assert os.listdir(os.path.join(berth_env["BERTH_ROOT"], "layers", ".staging")) == []
    # And the same import then succeeds.
    berth(berth_env, "image", "import", "-q", str(layout), "k:1")
    assert len(store_files(berth_env["BERTH_ROOT"])["layers"]) == 1
