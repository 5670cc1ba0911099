"""Helpers for the disk e2e tests: paths to berth and disk-io, and qcow2 header pokes for building
corrupt images from good ones."""
import os
import struct
import subprocess

from conftest import BUILD, binary


def disk_io():
    path = os.path.join(BUILD, "tests", "helpers", "disk-io")
    assert os.access(path, os.X_OK), f"{path} is not built"
    return path


def berth_disk(*args, check=True):
    p = subprocess.run([binary("berth"), "disk", *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"berth disk {' '.join(map(str, args))}: rc={p.returncode} {p.stderr}")
    return p


def run(*args, check=True):
    p = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))}: rc={p.returncode} {p.stdout} {p.stderr}")
    return p


def qemu_check(path):
    """Returns qemu-img check's exit code (0 clean, 2 corrupt, 3 leaks)."""
    return subprocess.run(["qemu-img", "check", str(path)], capture_output=True, text=True).returncode


def read_be(path, off, fmt):
    with open(path, "rb") as f:
        f.seek(off)
        return struct.unpack(">" + fmt, f.read(struct.calcsize(fmt)))[0]


def poke(path, off, fmt, value):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(">" + fmt, value))


def header(path):
    names = ["magic", "version", "backing_offset", "backing_size", "cluster_bits", "size", "crypt",
             "l1_size", "l1_offset", "rt_offset", "rt_clusters", "nb_snapshots", "snapshots_offset"]
    with open(path, "rb") as f:
        vals = struct.unpack(">IIQIIQIIQQIIQ", f.read(72))
    return dict(zip(names, vals))


def first_l2(path):
    """Offset of the first L2 table (the image must have data in its first 512 MiB)."""
    h = header(path)
    return read_be(path, h["l1_offset"], "Q") & 0x00fffffffffffe00
