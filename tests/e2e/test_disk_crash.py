"""Crash safety: a writer of ours (disk-io crash mode: random 4 KiB writes, a flush every 8) is
SIGKILLed mid-write, several times on the same image. After every kill `qemu-img check` must find
no corruption (leaked clusters are allowed) and every block written before the last completed
flush must hold that write or a later one, never garbage."""
import os
import signal
import struct
import subprocess
import time

import pytest

from diskutil import berth_disk, disk_io, run

BLOCKS = 2048  # 8 MiB of 4 KiB blocks spread over 128 clusters of 64 KiB


CYCLE = bytes(range(256)) * 17


def expected_block(block, gen):
    start = (block * 31 + gen * 7 + 16) & 0xff
    return struct.pack("<QQ", block, gen) + CYCLE[start:start + 4080]


def verify(img, log, tmp_path):
    durable = {}
    with open(log) as f:
        for line in f:
            fields = line.split()
            if len(fields) != 9:
                continue  # the writer was killed while appending this line
            gen = int(fields[0])
            for i, b in enumerate(fields[1:]):
                durable[int(b)] = max(durable.get(int(b), 0), gen - 7 + i)
    raw = tmp_path / "dump.raw"
    run("qemu-img", "convert", "-O", "raw", img, raw)
    data = open(raw, "rb").read()
    os.unlink(raw)
    for block, gen in durable.items():
        got = data[block * 4096:(block + 1) * 4096]
        tag_block, tag_gen = struct.unpack("<QQ", got[:16])
        assert tag_block == block, f"block {block}: holds block {tag_block}'s data"
        assert tag_gen >= gen, f"block {block}: generation {tag_gen} is older than the flushed {gen}"
        assert got == expected_block(block, tag_gen), f"block {block}: torn or garbage content"
    return len(durable)


@pytest.mark.parametrize("with_backing", [False, True])
def test_kill_writer_mid_write(tmp_path, with_backing):
    img = tmp_path / "disk.qcow2"
    if with_backing:
        base = tmp_path / "base.qcow2"
        run("qemu-img", "create", "-q", "-f", "qcow2", base, "8M")
        run("qemu-io", "-c", "write -P 0x5a 0 8M", base)
        berth_disk("create", "-b", "base.qcow2", img)
    else:
        berth_disk("create", img, "8M")
    log = tmp_path / "flushed.log"
    checked = 0
    for round_ in range(4):
        p = subprocess.Popen([disk_io(), img, f"crash:{round_ + 11}:{BLOCKS}:{log}"],
                             stderr=subprocess.PIPE)
        time.sleep(0.4 + 0.2 * round_)
        assert p.poll() is None, p.stderr.read()
        if round_ == 0:
            # One writer per image: a second one is refused while the first runs.
            r = berth_disk("resize", img, "+1M", check=False)
            assert r.returncode == 1 and "in use" in r.stderr, r.stderr
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stderr.close()
        q = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True)
        assert q.returncode in (0, 3), q.stdout + q.stderr  # 3: leaked clusters only
        ours = berth_disk("check", img, check=False)
        assert ours.returncode in (0, 3), ours.stdout + ours.stderr
        checked = verify(img, log, tmp_path)
    assert checked > 100  # enough flushed blocks to mean something
    # Leaks are reclaimable, after which both tools see a clean image.
    berth_disk("check", "--repair", "leaks", img, check=False)
    assert subprocess.run(["qemu-img", "check", img], capture_output=True).returncode == 0
    if with_backing:
        # Blocks never written still show the backing file through the overlay.
        raw = tmp_path / "final.raw"
        run("qemu-img", "convert", "-O", "raw", img, raw)
        data = open(raw, "rb").read()
        durable_blocks = set()
        with open(log) as f:
            for line in f:
                durable_blocks.update(int(b) for b in line.split()[1:])
        untouched = [b for b in range(BLOCKS) if b not in durable_blocks]
        for b in untouched[:50]:
            chunk = data[b * 4096:(b + 1) * 4096]
            assert chunk == b"\x5a" * 4096 or struct.unpack("<Q", chunk[:8])[0] == b
