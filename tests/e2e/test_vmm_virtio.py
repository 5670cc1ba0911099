"""virtio devices end to end: berth-vmm boots tests/guests/virtio-test.pvh, which finds each
device through the ACPI DSDT, negotiates features and drives it from ring 3 like a driver; the
tests check what the host sees (the disk file's bytes, qemu-img's view of a qcow2 written by the
guest, ping replies from a tap inside a private network namespace, vsock streams over the Unix
socket in both directions). Skips only without /dev/kvm (or, for net, without ip/tun)."""
import os
import shutil
import socket
import subprocess
import threading
import uuid

import pytest

from conftest import BUILD, binary

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this machine")

GUEST = os.path.join(BUILD, "tests", "guests", "virtio-test.pvh")


def run_guest(*args, cmdline, timeout=60, prefix=()):
    if not os.path.exists(GUEST):
        pytest.fail(f"{GUEST} is not built (run scripts/build.sh)")
    return subprocess.run([*prefix, binary("berth-vmm"), "--kernel", GUEST, "--cmdline", cmdline, *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(r):
    """The guest exits through the debug-exit port with its failure count: 0 -> status 1."""
    assert "virtio-test: 0 failures" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1, r.stdout + r.stderr


def make_disk(path, text):
    data = bytearray(1 << 20)
    data[:len(text)] = text
    path.write_bytes(bytes(data))


def test_blk_reads_writes_flushes_and_names_the_disk(tmp_path):
    disk = tmp_path / "disk.img"
    make_disk(disk, b"hello from the host disk")
    r = run_guest("--disk", str(disk), cmdline="blk=1")
    ok(r)
    assert "virtio-blk: capacity 2048 sectors" in r.stdout
    assert "virtio-blk: sector 0: hello from the host disk" in r.stdout
    assert "virtio-blk: serial berth-disk0" in r.stdout
    data = disk.read_bytes()
    assert data[512:512 + 20] == b"written by the guest"
    assert data[:24] == b"hello from the host disk"


def test_blk_read_only_disk_refuses_guest_writes(tmp_path):
    disk = tmp_path / "disk.img"
    make_disk(disk, b"read-only content")
    before = disk.read_bytes()
    r = run_guest("--disk", f"{disk},ro", cmdline="blk=1 blk_ro=1")
    ok(r)
    assert "virtio-blk: sector 0: read-only content" in r.stdout
    assert "virtio-blk: write refused (read-only)" in r.stdout
    assert disk.read_bytes() == before


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-img not installed")
def test_blk_qcow2_written_by_the_guest_reads_back_in_qemu_img(tmp_path):
    base = tmp_path / "base.raw"
    make_disk(base, b"qcow2 via berth")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(base), str(disk)], check=True)
    r = run_guest("--disk", str(disk), cmdline="blk=1")
    ok(r)
    assert "virtio-blk: sector 0: qcow2 via berth" in r.stdout
    subprocess.run(["qemu-img", "check", str(disk)], check=True, capture_output=True)
    out = tmp_path / "out.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(out)], check=True)
    assert out.read_bytes()[512:532] == b"written by the guest"


def test_rng_gives_random_bytes():
    ok(run_guest(cmdline="rng=1"))


@pytest.fixture
def netns_with_tap():
    """A network namespace of our own with a persistent tap (10.77.x.1/24), deleted afterwards."""
    if not shutil.which("ip") or not os.path.exists("/dev/net/tun"):
        pytest.skip("needs ip(8) and /dev/net/tun")
    ns = f"berth-vt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["tuntap", "add", "dev", "vt0", "mode", "tap"],
                    ["addr", "add", "10.77.0.1/24", "dev", "vt0"],
                    ["link", "set", "vt0", "up"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_net_guest_pings_the_host_through_the_tap(netns_with_tap):
    r = run_guest("--net", "vt0", cmdline="net=1 ip=10.77.0.2 host=10.77.0.1",
                  prefix=("ip", "netns", "exec", netns_with_tap))
    ok(r)
    assert "virtio-net: ARP reply from the host" in r.stdout
    assert "virtio-net: ICMP echo reply from the host" in r.stdout
    # The host kernel counted the guest's frames (ARP request, echo request) on the tap.
    stats = subprocess.run(["ip", "netns", "exec", netns_with_tap, "cat", "/sys/class/net/vt0/statistics/rx_packets",
                            "/sys/class/net/vt0/statistics/tx_packets"], capture_output=True, text=True, check=True)
    rx, tx = (int(x) for x in stats.stdout.split())
    assert rx >= 2 and tx >= 2, stats.stdout


def recv_until(sock, marker, limit=4096):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(limit)
        if not chunk:
            break
        data += chunk
    return data


def test_vsock_streams_both_ways(tmp_path):
    uds = str(tmp_path / "v.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(uds + "_5000")
    listener.listen(1)
    listener.settimeout(30)
    result = {}

    def vm():
        result["r"] = run_guest("--vsock", f"9:{uds}", cmdline="vsock_connect=5000 vsock_listen=1234")

    t = threading.Thread(target=vm)
    t.start()
    try:
        # Guest to host: the guest connects to CID 2 port 5000 = <uds>_5000.
        conn, _ = listener.accept()
        conn.settimeout(30)
        assert recv_until(conn, b"\n") == b"hello from the guest\n"
        conn.sendall(b"hello from the host\n")
        assert conn.recv(100) == b""  # the guest closed its side
        conn.close()
        # Host to guest: CONNECT <port> on the device's socket.
        h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        h.settimeout(30)
        h.connect(uds)
        h.sendall(b"CONNECT 1234\n")
        line = recv_until(h, b"\n")
        assert line.startswith(b"OK ") and int(line[3:].strip()) >= 1 << 30, line
        h.sendall(b"ping over vsock")
        assert recv_until(h, b"vsock") == b"echo:ping over vsock"
        h.close()
    finally:
        t.join(60)
        listener.close()
    r = result["r"]
    ok(r)
    assert "virtio-vsock: guest cid 9" in r.stdout
    assert "virtio-vsock: host said: hello from the host" in r.stdout
    assert "virtio-vsock: echoed 15 bytes" in r.stdout
    assert not os.path.exists(uds)  # removed when the VM ended


def test_vsock_connect_to_a_host_port_nobody_listens_on_fails_cleanly(tmp_path):
    uds = str(tmp_path / "v.sock")
    r = run_guest("--vsock", f"9:{uds}", cmdline="vsock_connect=6000")
    assert "virtio-test: FAIL vsock: connect to the host" in r.stdout
    assert r.returncode == (1 << 1) | 1
    assert os.listdir(tmp_path) == []
