"""Hostile layers, built here with Python's tarfile: each is refused (or neutralised, for
absolute paths) and nothing outside the store changes."""
import gzip
import os

import pytest

from image_helpers import (berth, berth_json, device_entry, dir_entry, file_entry, hardlink_entry,
                           store_files, symlink_entry, tar_bytes, tree, write_oci_layout)


@pytest.fixture
def outside(tmp_path):
    """A directory next to the store with a victim file: attacks aim at it."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("original\n")
    return d


def snapshot(path):
    st = os.lstat(path / "victim")
    return tree(str(path)), st.st_nlink, st.st_ino


def import_layers(env, tmp_path, layers, check=False, extra_env=None, args=(), **kw):
    layout = tmp_path / "layout"
    write_oci_layout(str(layout), layers, **kw)
    e = dict(env, **(extra_env or {}))
    return berth(e, "image", "import", *args, str(layout), "evil:1", check=check)


def assert_refused(env, p, message):
    assert p.returncode == 1, p.stderr
    assert message in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert berth_json(env, "images") == []
    files = store_files(env["BERTH_ROOT"])
    assert files == {"blobs": [], "layers": [], "staging": []}, files


def test_dotdot_path_is_refused(berth_env, tmp_path, outside):
    before = snapshot(outside)
    rel = os.path.relpath(outside / "victim", berth_env["BERTH_ROOT"] + "/layers/x")
    layer = tar_bytes([file_entry("ok", b"fine"), file_entry(rel, b"pwned"), file_entry("../../escaped", b"x")])
    p = import_layers(berth_env, tmp_path, [layer])
    assert_refused(berth_env, p, "'..' in a path is refused")
    assert snapshot(outside) == before


def test_absolute_path_stays_in_the_layer(berth_env, tmp_path, outside):
    before = snapshot(outside)
    target = str(outside / "victim")
    layer = tar_bytes([file_entry(target, b"pwned")], fmt=__import__("tarfile").GNU_FORMAT)
    p = import_layers(berth_env, tmp_path, [layer])
    assert p.returncode == 0, p.stderr
    assert snapshot(outside) == before
    path = berth_json(berth_env, "image", "inspect", "evil:1")[0]["LayerBlobs"][0]["Path"]
    with open(os.path.join(path, target.lstrip("/"))) as f:
        assert f.read() == "pwned"


def test_symlink_out_then_written_through_is_refused(berth_env, tmp_path, outside):
    before = snapshot(outside)
    layer = tar_bytes([symlink_entry("evil", str(outside)), file_entry("evil/victim", b"pwned")])
    p = import_layers(berth_env, tmp_path, [layer])
    assert_refused(berth_env, p, "'evil' is a symlink in the layer; refusing to write through it")
    assert snapshot(outside) == before
    # Relative symlinks climbing out are refused the same way.
    layer = tar_bytes([dir_entry("a"), symlink_entry("a/up", "../../../../../../../../" + str(outside)),
                       file_entry("a/up/victim", b"pwned")])
    p = import_layers(berth_env, tmp_path, [layer])
    assert_refused(berth_env, p, "symlink")
    assert snapshot(outside) == before


def test_symlink_out_in_a_lower_layer_then_written_through_in_an_upper_one(berth_env, tmp_path, outside):
    """Each layer is unpacked on its own, so layer 2's dir holds no symlink from layer 1: the
    write lands in layer 2's own directory, and overlayfs merges them inside the container."""
    before = snapshot(outside)
    lower = tar_bytes([symlink_entry("evil", str(outside))])
    upper = tar_bytes([dir_entry("evil"), file_entry("evil/victim", b"pwned")])
    p = import_layers(berth_env, tmp_path, [lower, upper])
    assert p.returncode == 0, p.stderr
    assert snapshot(outside) == before
    paths = [l["Path"] for l in berth_json(berth_env, "image", "inspect", "evil:1")[0]["LayerBlobs"]]
    assert os.readlink(os.path.join(paths[0], "evil")) == str(outside)
    assert open(os.path.join(paths[1], "evil", "victim")).read() == "pwned"


def test_hard_links_to_host_files_are_refused(berth_env, tmp_path, outside):
    before = snapshot(outside)
    for target, message in ((str(outside / "victim"), "not a file of this layer"),
                            ("/etc/passwd", "not a file of this layer"),
                            ("../../../../../../etc/passwd", "leaves the layer")):
        layer = tar_bytes([hardlink_entry("h", target)])
        p = import_layers(berth_env, tmp_path, [layer])
        assert_refused(berth_env, p, message)
    # Through a symlink of the layer.
    layer = tar_bytes([symlink_entry("s", str(outside)), hardlink_entry("h", "s/victim")])
    p = import_layers(berth_env, tmp_path, [layer])
    assert_refused(berth_env, p, "not a file of this layer")
    assert snapshot(outside) == before
    assert os.stat("/etc/passwd").st_nlink == 1


def test_device_nodes_refused_when_configured(berth_env, tmp_path):
    layer = tar_bytes([device_entry("dev/mem", 1, 1)])
    p = import_layers(berth_env, tmp_path, [layer], extra_env={"BERTH_LAYER_DEVICES": "0"})
    assert_refused(berth_env, p, "device node refused")


def test_decompression_bomb_is_refused(berth_env, tmp_path):
    zeros = tar_bytes([file_entry("bomb", bytes(24 << 20))])
    assert len(gzip.compress(zeros, compresslevel=1)) < (1 << 20)
    p = import_layers(berth_env, tmp_path, [zeros], args=("--max-layer-size", "8M"))
    assert_refused(berth_env, p, "uncompressed size exceeds the limit of 8388608 bytes")
    # The same limit from the environment.
    p = import_layers(berth_env, tmp_path, [zeros], extra_env={"BERTH_LAYER_MAX_BYTES": "4M"})
    assert_refused(berth_env, p, "exceeds the limit of 4194304 bytes")
    many = tar_bytes([file_entry(f"f{i}", b"") for i in range(300)])
    p = import_layers(berth_env, tmp_path, [many], extra_env={"BERTH_LAYER_MAX_ENTRIES": "100"})
    assert_refused(berth_env, p, "more than 100 entries")


def test_layer_not_matching_its_diff_id_is_refused(berth_env, tmp_path):
    real = tar_bytes([file_entry("a", b"real")])
    claimed = "sha256:" + "ab" * 32
    p = import_layers(berth_env, tmp_path, [real], diff_ids=[claimed])
    assert_refused(berth_env, p, "content does not match the image config")


def test_layer_that_is_not_a_tar_is_refused(berth_env, tmp_path):
    p = import_layers(berth_env, tmp_path, [b"\x00garbage" * 100])
    assert_refused(berth_env, p, "layer sha256:")
