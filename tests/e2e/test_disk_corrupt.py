"""Corrupt qcow2 files through the CLI: a one-line error naming the problem, a non-zero exit, no
crash, nothing left behind; `berth disk check` exit codes like qemu-img's."""
import json
import os

import pytest

from diskutil import berth_disk, disk_io, first_l2, header, poke, qemu_check, read_be, run

OFLAG_COPIED = 1 << 63


@pytest.fixture
def good(tmp_path):
    img = tmp_path / "good.qcow2"
    berth_disk("create", img, "4M")
    run(disk_io(), img, "write:0:8k:0x61", "write:1M:64k:0x62", "flush")
    return img


def assert_clear_failure(p, needle):
    assert p.returncode > 0, f"expected a failure, got rc={p.returncode}"  # negative: killed by a signal
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert needle in lines[0], lines[0]


# (what, how to break the header, expected words in the error)
HEADER_CASES = [
    ("bad magic", lambda img, h: poke(img, 0, "I", 0x51464900), "magic"),
    ("version 9", lambda img, h: poke(img, 4, "I", 9), "version"),
    ("cluster bits 31", lambda img, h: poke(img, 20, "I", 31), "cluster_bits"),
    ("absurd size", lambda img, h: poke(img, 24, "Q", 1 << 62), "size"),
    ("L1 table past EOF", lambda img, h: poke(img, 40, "Q", 1 << 40), "L1 table"),
    ("L1 table unaligned", lambda img, h: poke(img, 40, "Q", h["l1_offset"] + 8), "l1_table_offset"),
    ("L1 too small", lambda img, h: poke(img, 36, "I", 0), "l1_size"),
    ("refcount table past EOF", lambda img, h: poke(img, 48, "Q", 1 << 41), "refcount_table_offset"),
    ("refcount block past EOF", lambda img, h: poke(img, h["rt_offset"], "Q", 1 << 42), "refcount table entry 0"),
    ("unknown incompatible feature", lambda img, h: poke(img, 72, "Q", 1 << 33), "unknown feature bit 33"),
    ("external data file", lambda img, h: poke(img, 72, "Q", 1 << 2), "external data file"),
    ("encrypted", lambda img, h: poke(img, 32, "I", 2), "crypt_method"),
    ("backing name outside cluster", lambda img, h: (poke(img, 8, "Q", 65530), poke(img, 16, "I", 100)),
     "backing_file_offset"),
]


@pytest.mark.parametrize("what,breaker,needle", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_corrupt_header_is_a_clear_error(good, tmp_path, what, breaker, needle):
    breaker(good, header(good))
    for cmd in (["info", "-f", "qcow2", good], ["check", "-f", "qcow2", good]):
        p = berth_disk(*cmd, check=False)
        assert_clear_failure(p, needle)
    out = tmp_path / "out.raw"
    p = berth_disk("convert", "-f", "qcow2", "-O", "raw", good, out, check=False)
    assert_clear_failure(p, needle)
    assert not out.exists()


def test_data_cluster_beyond_file(good, tmp_path):
    l2 = first_l2(good)
    poke(good, l2, "Q", (1 << 44) | OFLAG_COPIED)
    out = tmp_path / "out.raw"
    p = berth_disk("convert", "-O", "raw", good, out, check=False)
    assert_clear_failure(p, "beyond the end of the file")
    assert not out.exists()
    p = berth_disk("check", "--format", "json", good, check=False)
    assert p.returncode == 2
    res = json.loads(p.stdout)
    assert res["corruptions"] >= 1 and "beyond the end of the file" in res["first-problem"]
    assert qemu_check(good) == 2  # qemu agrees it is corrupt


def test_unaligned_l2_entry(good, tmp_path):
    l2 = first_l2(good)
    poke(good, l2, "Q", (read_be(good, l2, "Q") + 512) | OFLAG_COPIED)
    p = run(disk_io(), good, "read:0:4k:0x61", check=False)
    assert p.returncode == 1 and "Structure needs cleaning" in p.stderr
    assert berth_disk("check", good, check=False).returncode == 2


def test_refcount_overflow(tmp_path):
    img = tmp_path / "rc1.qcow2"
    berth_disk("create", "--refcount-bits", "1", img, "4M")
    run(disk_io(), img, "write:0:64k:0x61", "flush")
    l2 = first_l2(img)
    poke(img, l2 + 8, "Q", read_be(img, l2, "Q"))  # a second reference to the same cluster
    p = berth_disk("check", "--format", "json", img, check=False)
    assert p.returncode == 2
    assert "refcount overflow" in json.loads(p.stdout)["first-problem"]
    # Writing to it would need a copy (shared cluster): refused rather than corrupting further.
    assert berth_disk("check", img, check=False).returncode == 2


def test_backing_file_loop(tmp_path):
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    berth_disk("create", tmp_path / "base.qcow2", "1M")
    berth_disk("create", "-b", "base.qcow2", a)
    berth_disk("create", "-b", "a.qcow2", b)
    os.rename(b, tmp_path / "base.qcow2")  # a -> base(=b) -> a
    out = tmp_path / "out.raw"
    p = berth_disk("convert", "-O", "raw", a, out, check=False)
    assert_clear_failure(p, "backing-file loop")
    assert not out.exists()
    info = json.loads(berth_disk("info", "--format", "json", a).stdout)
    assert "loop" in info["backing-error"]


def test_leaks_exit_3_and_repair(good):
    """A refcount with no reference (what a crash can leave): exit 3, repaired by --repair leaks."""
    h = header(good)
    cs = 1 << h["cluster_bits"]
    size = os.path.getsize(good)
    rb = read_be(good, h["rt_offset"], "Q")
    leaked = (size + cs - 1) // cs
    os.truncate(good, (leaked + 1) * cs)
    poke(good, rb + 2 * leaked, "H", 1)
    assert qemu_check(good) == 3
    p = berth_disk("check", "--format", "json", good, check=False)
    assert p.returncode == 3 and json.loads(p.stdout)["leaks"] == 1
    p = berth_disk("check", "--repair", "leaks", good, check=False)
    assert p.returncode == 0, p.stdout
    assert qemu_check(good) == 0
    run(disk_io(), good, "read:0:8k:0x61", "read:1M:64k:0x62")


def test_refcount_too_low_repair_all(good):
    h = header(good)
    rb = read_be(good, h["rt_offset"], "Q")
    l2_cluster = first_l2(good) >> h["cluster_bits"]
    poke(good, rb + 2 * l2_cluster, "H", 0)  # an L2 table in use, refcount 0: reusable = dangerous
    assert qemu_check(good) == 2
    p = berth_disk("check", good, check=False)
    assert p.returncode == 2 and "below its 1 references" in p.stdout
    assert berth_disk("check", "--repair", "leaks", good, check=False).returncode == 2  # not a leak
    p = berth_disk("check", "--repair", "all", good, check=False)
    assert p.returncode == 0 and "rebuilt" in p.stdout
    assert qemu_check(good) == 0
    run(disk_io(), good, "read:0:8k:0x61", "read:1M:64k:0x62")


def test_dirty_and_corrupt_bits(good):
    poke(good, 72, "Q", 1)  # dirty: refcounts may be stale
    run(disk_io(), good, "read:0:8k:0x61")  # reads are fine
    run(disk_io(), good, "write:0:1k:1")  # a writer first rebuilds refcounts, then clears the bit
    assert read_be(good, 72, "Q") == 0
    assert qemu_check(good) == 0
    poke(good, 72, "Q", 2)  # corrupt
    p = run(disk_io(), good, "write:0:1k:1", check=False)
    assert p.returncode == 1 and "marked corrupt" in p.stderr


def test_cli_help_and_bad_input(tmp_path):
    for sub in ("create", "info", "convert", "resize", "check"):
        p = berth_disk(sub, "--help")
        assert p.stdout.startswith(f"Usage: berth disk {sub}")
    assert "Commands:" in berth_disk("--help").stdout
    p = berth_disk("frob", check=False)
    assert p.returncode == 125 and "unknown command 'frob'" in p.stderr
    p = berth_disk("create", tmp_path / "x.qcow2", "lots", check=False)
    assert p.returncode == 125 and "SIZE" in p.stderr
    p = berth_disk("create", "-b", "missing.qcow2", tmp_path / "y.qcow2", check=False)
    assert_clear_failure(p, "missing.qcow2")
    assert not (tmp_path / "y.qcow2").exists()
    berth_disk("create", tmp_path / "z.qcow2", "1M")
    p = berth_disk("create", tmp_path / "z.qcow2", "1M", check=False)
    assert_clear_failure(p, "File exists")
    p = berth_disk("info", "--format", "yaml", tmp_path / "z.qcow2", check=False)
    assert p.returncode == 125
    p = berth_disk("resize", tmp_path / "z.qcow2", "-5", check=False)
    assert p.returncode == 125 and "berth disk resize: unknown option" in p.stderr
    raw = tmp_path / "r.raw"
    berth_disk("create", "-f", "raw", raw, "1M")
    assert berth_disk("check", raw, check=False).returncode == 63


def test_cli_options_are_checked_alike_by_every_subcommand(tmp_path):
    img = tmp_path / "a.qcow2"
    berth_disk("create", img, "1M")
    operands = {"create": [tmp_path / "n.qcow2", "1M"], "info": [img], "convert": ["-O", "raw", img, tmp_path / "o.raw"],
                "resize": [img, "2M"], "check": [img]}
    for sub, ops in operands.items():
        p = berth_disk(sub, "-f", "vmdk", *ops, check=False)
        assert p.returncode == 125 and f"berth disk {sub}: -f must be raw or qcow2" in p.stderr, (sub, p.stderr)
    # An option of another subcommand is refused by name, not silently taken.
    p = berth_disk("info", "--repair", "leaks", img, check=False)
    assert p.returncode == 125 and "unknown option '--repair'" in p.stderr
    p = berth_disk("check", "--refcount-bits", "16", img, check=False)
    assert p.returncode == 125 and "unknown option '--refcount-bits'" in p.stderr
    p = berth_disk("create", "-b", img, "-F", "vmdk", tmp_path / "m.qcow2", check=False)
    assert p.returncode == 125 and "-F must be raw or qcow2" in p.stderr
    p = berth_disk("convert", "-O", "vdi", img, tmp_path / "v.img", check=False)
    assert p.returncode == 125 and "-O must be raw or qcow2" in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.qcow2"]
    # -r is --repair for check and --refcount-bits for create.
    assert berth_disk("check", "-r", "leaks", img).returncode == 0
    berth_disk("create", "-r", "8", tmp_path / "r8.qcow2", "1M")
    assert "refcount bits: 8" in berth_disk("info", tmp_path / "r8.qcow2").stdout
