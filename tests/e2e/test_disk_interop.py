"""qcow2 interoperability with QEMU's own tools (qemu-utils): images we write pass `qemu-img check`
and compare equal to the same writes made by qemu-io; images QEMU writes read the same in ours."""
import json
import os
import random
import shutil
import subprocess

import pytest

from diskutil import berth_disk, disk_io, qemu_check, run

MiB = 1 << 20


def ops_script(seed, size, n=40):
    """The same random writes/discards as disk-io ops and qemu-io commands."""
    rnd = random.Random(seed)
    ours, theirs = [], []
    for i in range(n):
        off = rnd.randrange(0, size - 300 * 1024) // 512 * 512
        length = rnd.choice([512, 4096, 65536, 70000 // 512 * 512, 200 * 1024])
        if rnd.random() < 0.2:
            ours.append(f"discard:{off}:{length}")
            theirs += ["-c", f"write -z {off} {length}"]
        else:
            byte = rnd.randrange(1, 256)
            ours.append(f"write:{off}:{length}:{byte}")
            theirs += ["-c", f"write -P {byte} {off} {length}"]
        if i % 10 == 9:
            ours.append("flush")
    return ours, theirs


@pytest.mark.parametrize("cluster", ["512", "4K", "64K", "2M"])
def test_our_writes_match_qemu_io(tmp_path, cluster):
    size = 32 * MiB
    ours_img, theirs_img = tmp_path / "ours.qcow2", tmp_path / "theirs.qcow2"
    berth_disk("create", "--cluster-size", cluster, ours_img, size)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster}", theirs_img, size)
    ours, theirs = ops_script(hash(cluster) & 0xffff, size)
    run(disk_io(), ours_img, *ours)
    run("qemu-io", *theirs, theirs_img)
    assert qemu_check(ours_img) == 0
    assert "identical" in run("qemu-img", "compare", ours_img, theirs_img).stdout
    # Our check agrees with qemu-img's.
    assert berth_disk("check", ours_img).returncode == 0


def test_overlay_writes_over_a_qemu_chain(tmp_path):
    """raw base <- qcow2 (qemu-img) <- qcow2 overlay (ours): COW from two levels down."""
    base = tmp_path / "base.raw"
    with open(base, "wb") as f:
        f.write(random.Random(1).randbytes(4 * MiB))
        f.truncate(16 * MiB)
    mid = tmp_path / "mid.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", mid)
    run("qemu-io", "-c", "write -P 0x33 1M 100k", "-c", "write -z 2M 128k", "-c", "discard 6M 1M", mid)
    for name, who in (("ours.qcow2", "berth"), ("theirs.qcow2", "qemu")):
        if who == "berth":
            berth_disk("create", "-b", "mid.qcow2", tmp_path / name)
        else:
            run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", tmp_path / name)
    ours, theirs = ops_script(7, 16 * MiB, n=30)
    run(disk_io(), tmp_path / "ours.qcow2", *ours)
    run("qemu-io", *theirs, tmp_path / "theirs.qcow2")
    assert qemu_check(tmp_path / "ours.qcow2") == 0
    assert qemu_check(mid) == 0  # the backing file was not touched
    assert "identical" in run("qemu-img", "compare", tmp_path / "ours.qcow2", tmp_path / "theirs.qcow2").stdout


def test_qemu_images_read_correctly(tmp_path):
    """Compressed clusters, zero clusters, discards, a 3-level chain, a v2 image: our reads equal
    qemu-img's."""
    src = tmp_path / "src.raw"
    rnd = random.Random(2)
    with open(src, "wb") as f:
        f.write(rnd.randbytes(2 * MiB))
        f.write(b"compressible " * (300 * 1024))
        f.truncate(24 * MiB)
    comp = tmp_path / "comp.qcow2"
    run("qemu-img", "convert", "-c", "-O", "qcow2", src, comp)
    v2 = tmp_path / "v2.qcow2"
    run("qemu-img", "convert", "-O", "qcow2", "-o", "compat=0.10", src, v2)
    top = tmp_path / "top.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "comp.qcow2", "-F", "qcow2", top)
    run("qemu-io", "-c", "write -P 0x44 1050k 10k", "-c", "write -z 0 64k", "-c", "discard 5M 1M",
        "-c", "write -P 0x45 20M 3M", top)
    for img in (comp, v2, top):
        expect, got = tmp_path / "expect.raw", tmp_path / "got.raw"
        run("qemu-img", "convert", "-O", "raw", img, expect)
        run(disk_io(), img, f"dump:{got}")
        assert open(expect, "rb").read() == open(got, "rb").read(), img
        os.unlink(expect)
        os.unlink(got)
    # Writing into compressed clusters copies them out; the image stays clean for qemu.
    run(disk_io(), comp, "write:100k:4k:0x42", "write:2100k:100k:0x43", "flush")
    assert qemu_check(comp) == 0
    run("qemu-io", "-c", "read -P 0x42 100k 4k", "-c", "read -P 0x43 2100k 100k", comp)


def test_info_json_matches_qemu(tmp_path):
    base = tmp_path / "base.qcow2"
    berth_disk("create", "--cluster-size", "128K", base, "3G")
    top = tmp_path / "top.qcow2"
    berth_disk("create", "-b", "base.qcow2", top)
    ours = json.loads(berth_disk("info", "--format", "json", top).stdout)
    theirs = json.loads(run("qemu-img", "info", "--output", "json", top).stdout)
    for key in ("virtual-size", "cluster-size", "format", "backing-filename", "backing-filename-format"):
        assert ours[key] == theirs[key], key
    assert ours["backing-chain"][0]["cluster-size"] == 128 * 1024
    assert ours["backing-chain"][0]["virtual-size"] == 3 << 30
    text = berth_disk("info", top).stdout
    assert "backing file: base.qcow2" in text and "virtual size: 3 GiB" in text


def test_convert_both_ways_and_resize(tmp_path):
    src = tmp_path / "src.raw"
    with open(src, "wb") as f:
        f.seek(3 * MiB)
        f.write(random.Random(3).randbytes(MiB))
        f.truncate(8 * MiB)
    q = tmp_path / "out.qcow2"
    berth_disk("convert", "-O", "qcow2", src, q)
    assert qemu_check(q) == 0
    assert "identical" in run("qemu-img", "compare", src, q).stdout
    back = tmp_path / "back.raw"
    berth_disk("convert", "-O", "raw", q, back)
    assert open(back, "rb").read() == open(src, "rb").read()
    # Sparse: the zero megabytes were not written.
    assert os.stat(q).st_blocks * 512 < 3 * MiB
    berth_disk("resize", q, "+1G")
    theirs = json.loads(run("qemu-img", "info", "--output", "json", q).stdout)
    assert theirs["virtual-size"] == 8 * MiB + (1 << 30)
    assert qemu_check(q) == 0
    run(disk_io(), q, "write:1000M:64k:0x21", "flush")
    run("qemu-io", "-c", "read -P 0x21 1000M 64k", "-c", f"read -P 0 {8 * MiB} 64k", q)
    p = berth_disk("resize", q, "1M", check=False)
    assert p.returncode == 1 and "shrinking is not supported" in p.stderr


def test_dirty_lazy_refcount_image_from_qemu(tmp_path):
    """qemu-io with lazy refcounts, aborted mid-session: the image is left dirty with stale
    refcounts. We read it as is; a read-write open rebuilds refcounts first (as QEMU does)."""
    img = tmp_path / "lazy.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", img, "64M")
    subprocess.run(["qemu-io", "-c", "write -P 0x71 0 1M", "-c", "write -P 0x72 10M 3M", "-c", "abort", img],
                   capture_output=True)
    assert qemu_check(img) == 2  # stale refcounts
    info = json.loads(berth_disk("info", "--format", "json", img).stdout)
    assert info["dirty-flag"] is True and info["format-specific"]["data"]["lazy-refcounts"] is True
    run(disk_io(), img, "read:0:1M:0x71", "read:10M:3M:0x72")
    copy = tmp_path / "copy.qcow2"
    shutil.copy(img, copy)
    run(disk_io(), img, "write:20M:64k:0x73", "flush")
    assert qemu_check(img) == 0
    run("qemu-io", "-c", "read -P 0x71 0 1M", "-c", "read -P 0x72 10M 3M", "-c", "read -P 0x73 20M 64k", img)
    p = berth_disk("check", "--repair", "all", "--format", "json", copy, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["refcounts-rebuilt"] is True
    assert qemu_check(copy) == 0


def test_internal_snapshots_read_and_check(tmp_path):
    """Images with internal snapshots (qemu-img snapshot): the active state reads, check counts the
    snapshots' references, and writing is refused with a clear error rather than done wrong."""
    img = tmp_path / "snap.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", img, "64M")
    run("qemu-io", "-c", "write -P 1 0 1M", "-c", "write -P 2 5M 1M", img)
    run("qemu-img", "snapshot", "-c", "s1", img)
    run("qemu-io", "-c", "write -P 3 0 64k", "-c", "write -P 4 30M 1M", "-c", "discard 5M 64k", img)
    run("qemu-img", "snapshot", "-c", "s2", img)
    run("qemu-io", "-c", "write -P 5 100k 4k", img)
    expect, got = tmp_path / "expect.raw", tmp_path / "got.raw"
    run("qemu-img", "convert", "-O", "raw", img, expect)
    run(disk_io(), img, f"dump:{got}")
    assert open(expect, "rb").read() == open(got, "rb").read()
    p = berth_disk("check", "--format", "json", img, check=False)
    assert p.returncode == 0, p.stdout
    theirs = json.loads(run("qemu-img", "check", "--output", "json", img).stdout)
    assert json.loads(p.stdout)["allocated-clusters"] == theirs["allocated-clusters"]
    assert json.loads(berth_disk("info", "--format", "json", img).stdout)["format-specific"]["data"]["snapshots"] == 2
    p = run(disk_io(), img, "write:0:1k:1", check=False)
    assert p.returncode == 1 and "internal snapshots" in p.stderr
