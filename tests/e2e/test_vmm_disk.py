"""berth-vmm's disks end to end, with freestanding guests driving virtio-blk from ring 3:
- a disk opens with the format it is given (`--disk FILE,format=raw`), never by probing its
  content: a raw disk whose guest planted a qcow2 header naming a host file as backing file stays
  raw (without format= the probe follows the header, which shows the test can fail);
- faults: berth-vmm SIGKILLed while the guest writes and flushes in a loop leaves a qcow2 overlay
  that `qemu-img check` passes (leaks allowed) with every block of every flush the guest saw.
Skips only without /dev/kvm (or qemu-img)."""
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BUILD, binary

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine"),
    pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-img not installed"),
]


def guest(name):
    path = os.path.join(BUILD, "tests", "guests", name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is not built (run scripts/build.sh)")
    return path


def run_vmm(*args, timeout=60):
    # Bytes: sector 0 of a disk holding a qcow2 header is not text.
    p = subprocess.run([binary("berth-vmm"), *args], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def planted_raw_disk(tmp_path):
    """A 1 MiB raw disk whose first bytes are a qcow2 header with a host file as raw backing file,
    as a guest owning the disk could write them."""
    secret = tmp_path / "host-secret.txt"
    secret.write_bytes(b"host secret: never shown to a guest".ljust(1 << 20, b"\0"))
    header = tmp_path / "header.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw", str(header), "1M"],
                   check=True)
    raw = tmp_path / "guest.raw"
    data = bytearray(1 << 20)
    h = header.read_bytes()
    data[:len(h)] = h
    raw.write_bytes(bytes(data))
    return raw


def test_raw_disk_with_a_planted_qcow2_header_stays_raw(tmp_path):
    raw = planted_raw_disk(tmp_path)
    rc, out, err = run_vmm("--kernel", guest("virtio-test.pvh"), "--cmdline", "blk=1", "--disk", f"{raw},format=raw")
    assert "virtio-test: 0 failures" in out, out + err
    assert "virtio-blk: capacity 2048 sectors" in out
    assert "virtio-blk: sector 0: QFI" in out, out
    assert "host secret" not in out
    # The guest's write landed in the raw file itself, not in a qcow2 cluster.
    assert raw.read_bytes()[512:532] == b"written by the guest"


def test_the_same_disk_probed_follows_the_planted_backing_file(tmp_path):
    """Why the format must be given: probing trusts the guest's bytes (the attack the test above
    guards against, shown working)."""
    raw = planted_raw_disk(tmp_path)
    rc, out, err = run_vmm("--kernel", guest("virtio-test.pvh"), "--cmdline", "blk=1", "--disk", str(raw))
    assert "virtio-blk: sector 0: host secret" in out, out + err


def test_format_in_the_json_config(tmp_path):
    raw = planted_raw_disk(tmp_path)
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({"kernel": guest("virtio-test.pvh"), "cmdline": "blk=1",
                               "disks": [{"path": str(raw), "read_only": True, "format": "raw"}]}))
    rc, out, err = run_vmm("--config", str(cfg))
    assert "virtio-blk: sector 0: QFI" in out, out + err
    assert "host secret" not in out


def test_qcow2_format_given_opens_qcow2_and_refuses_a_raw_file(tmp_path):
    raw = tmp_path / "plain.raw"
    raw.write_bytes(b"plain raw bytes".ljust(1 << 20, b"\0"))
    rc, out, err = run_vmm("--kernel", guest("virtio-test.pvh"), "--cmdline", "blk=1", "--disk",
                           f"{raw},ro,format=qcow2")
    assert rc != 0 and "qcow2" in err and "virtio-test" not in out, out + err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("spec,msg", [
    ("x.img,format=vmdk", "unknown format 'vmdk' (raw or qcow2)"),
    ("x.img,format=", "unknown format '' (raw or qcow2)"),
    ("x.img,ro,bogus", "unknown option 'bogus'"),
])
def test_bad_disk_options_are_one_clear_line(tmp_path, spec, msg):
    rc, out, err = run_vmm("--kernel", guest("hello.pvh"), "--disk", str(tmp_path / spec))
    assert rc != 0 and msg in err, err
    assert len(err.strip().splitlines()) == 1, err


# ---- faults: SIGKILL during heavy guest writes ----
# The schedule and block pattern of tests/guests/blk-stress.c, reproduced here.
MASK = (1 << 64) - 1
MAGIC = 0x4b4c424854524542
K1, K2, K3 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9
REQS = 32
BLOCK = 4096
WORDS3 = int.from_bytes(b"".join(((j * K3) & MASK).to_bytes(8, "little") for j in range(3, 512)), "little")


def mix(x):
    x = (x + K1) & MASK
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & MASK
    return x ^ (x >> 31)


def batch_blocks(g, span):
    out = set()
    for i in range(REQS):
        h = mix((g << 16 | i) & MASK)
        b, k = h % (span - 3), 1 + (h >> 32) % 4
        out.update(range(b, b + k))
    return out


def pattern(g, b):
    base = ((g * K1) ^ (b * K2)) & MASK
    rest = int.from_bytes(base.to_bytes(8, "little") * 509, "little") ^ WORDS3
    return MAGIC.to_bytes(8, "little") + g.to_bytes(8, "little") + b.to_bytes(8, "little") + rest.to_bytes(509 * 8, "little")


def backing_block(b):
    return f"backing block {b}\n".encode().ljust(BLOCK, b"\0")


def discard_blocks(g, span):
    c = mix((g << 16 | 0xffff) & MASK) % (span // 16)
    return range(16 * c, 16 * c + 16)


SLACK = 64  # batches the guest may have started after the last flush line read before the kill


def verify_image(raw_bytes, runs, span):
    """runs: (first batch, last batch whose flush the guest reported, discards on) per VMM run.
    Events are ordered (batch, writes before the batch's discard). For every block, the last
    flushed event that touched it, or a later one, must show: a whole batch's pattern from a
    batch that writes the block, zeroes from a batch that discards it, or, when no flushed event
    touched it, the backing file's block."""
    latest = {}
    zero_keys = {}  # block -> discard event keys of every batch that may have run
    for start, last, discard in runs:
        for g in range(start, last + 1):
            for b in batch_blocks(g, span):
                latest[b] = 2 * g
            if discard:
                for b in discard_blocks(g, span):
                    latest[b] = 2 * g + 1
        if discard:
            for g in range(start, last + SLACK + 1):
                for b in discard_blocks(g, span):
                    zero_keys.setdefault(b, []).append(2 * g + 1)
    run_of = lambda g: any(start <= g <= last + SLACK for start, last, _ in runs)
    zeroes = bytes(BLOCK)
    seen = {"batch": 0, "zeroes": 0, "backing": 0}
    for b in range(span):
        blk = raw_bytes[b * BLOCK:(b + 1) * BLOCK]
        floor = latest.get(b, -1)
        if blk[:8] == MAGIC.to_bytes(8, "little"):
            g = int.from_bytes(blk[8:16], "little")
            assert run_of(g) and b in batch_blocks(g, span), f"block {b}: batch {g} never wrote it"
            assert blk == pattern(g, b), f"block {b}: not batch {g}'s pattern (torn or corrupt)"
            assert 2 * g >= floor, f"block {b}: batch {g} found, but flushed event {floor} came later"
            seen["batch"] += 1
        elif blk == zeroes:
            assert any(k >= floor for k in zero_keys.get(b, [])), \
                f"block {b}: zeroes, but no discard at or after flushed event {floor}"
            seen["zeroes"] += 1
        else:
            assert b not in latest, f"block {b}: flushed event {latest[b]} touched it, the image has something else"
            assert blk == backing_block(b), f"block {b}: neither the backing file's data nor a batch's"
            seen["backing"] += 1
    return seen


def read_flushed(proc, want, deadline):
    """Reads the guest's console until `want` flushes were reported; returns (last batch, text)."""
    buf = b""
    last = None
    count = 0
    fd = proc.stdout.fileno()
    while count < want and time.monotonic() < deadline:
        import select
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        lines = buf.split(b"\n")
        count = 0
        for line in lines[:-1]:
            if line.startswith(b"blk-stress: flushed "):
                last = int(line.split()[-1])
                count += 1
    return last, buf


def last_flushed(text):
    gens = [int(l.split()[-1]) for l in text.split(b"\n")[:-1] if l.startswith(b"blk-stress: flushed ")]
    return gens[-1] if gens else None


def test_vmm_killed_during_guest_writes_keeps_every_flushed_block(tmp_path):
    """berth-vmm runs blk-stress on a thin qcow2 overlay over a raw backing file and is SIGKILLed
    at random moments (4 runs on the same image, each resuming after the previous crash; two of
    them discard a cluster per batch as well): after
    each kill `qemu-img check` is clean or reports leaks only, and every block of every batch
    whose FLUSH the guest saw complete reads back (qemu-img convert to raw)."""
    span = 8192  # 32 MiB: 512 clusters of 64 KiB, allocated by copy-on-write from the backing file
    base = tmp_path / "base.raw"
    data = bytearray(span * BLOCK)
    for b in range(span):
        stamp = f"backing block {b}\n".encode()
        data[b * BLOCK:b * BLOCK + len(stamp)] = stamp
    base.write_bytes(bytes(data))
    del data
    disk = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(disk)], check=True)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    runs = []
    for it in range(4):
        start = it * 1_000_000 + 1
        want = rng.randint(3, 20)
        discard = it % 2  # runs 2 and 4 also discard a cluster per batch (refcount decrements)
        proc = subprocess.Popen([binary("berth-vmm"), "--kernel", guest("blk-stress.pvh"), "--cmdline",
                                 f"start={start} span={span} reqs={REQS} qd=8 discard={discard}",
                                 "--disk", f"{disk},format=qcow2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            _, text = read_flushed(proc, want, time.monotonic() + 60)
            time.sleep(rng.uniform(0, 0.05))  # somewhere inside a later batch
            proc.send_signal(signal.SIGKILL)
            rest, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text += rest
        assert proc.returncode == -signal.SIGKILL, (seed, text[-500:], err)
        assert b"FAIL" not in text, (seed, text[-500:])
        last = last_flushed(text)
        assert last is not None and last >= start + want - 1, (seed, it, text[-500:], err)
        runs.append((start, last, discard))
        check = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
        assert check.returncode in (0, 3) and "ERROR" not in check.stdout, (seed, it, check.stdout, check.stderr)
        ours = subprocess.run([binary("berth"), "disk", "check", str(disk)], capture_output=True, text=True)
        assert ours.returncode in (0, 3), (seed, it, ours.stdout, ours.stderr)
        raw = tmp_path / "image.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(raw)], check=True)
        seen = verify_image(raw.read_bytes(), runs, span)
        raw.unlink()
    # All three kinds of content were there to check: guest data, discarded (zero) clusters and
    # the backing file's blocks around them.
    print("content seen:", seen)
    assert min(seen.values()) > 0, seen


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_vm_create_records_the_base_disk_format_in_the_overlay(berth_env, tmp_path, fmt):
    """`berth vm create --disk FILE` probes the user's file once and records its format in the
    overlay's header; later opens (berth-vmm, QEMU) follow the record, not a new probe."""
    base = tmp_path / f"base.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(base), "64M"], check=True)
    name = f"fmt-{fmt}-{os.getpid()}"
    p = subprocess.run([binary("berth"), "vm", "create", name, "--disk", str(base)], env=berth_env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    try:
        info = json.loads(subprocess.run([binary("berth"), "vm", "inspect", name], env=berth_env, capture_output=True,
                                         text=True, check=True).stdout)[0]
        q = json.loads(subprocess.run(["qemu-img", "info", "--output=json", os.path.join(info["dir"], "disk.qcow2")],
                                      capture_output=True, text=True, check=True).stdout)
        assert q["backing-filename"] == str(base)
        assert q["backing-filename-format"] == fmt
    finally:
        subprocess.run([binary("berth"), "vm", "rm", name], env=berth_env, capture_output=True)
    assert not os.path.exists(info["dir"])
