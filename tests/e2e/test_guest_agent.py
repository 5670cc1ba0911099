"""The stock Debian kernel boots berth's initramfs (berth-agent as /init) under QEMU (TCG here:
this machine's KVM cannot run a stock kernel), mounts the VM's root disk, applies the identity from
the config disk and runs the command; `exec` sessions go over the virtio-serial agent channel."""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import binary

KERNELS = sorted(f for f in os.listdir("/boot") if f.startswith("vmlinuz-")) if os.path.isdir("/boot") else []


def prepare_kernel(env):
    out = subprocess.run([binary("berth"), "kernel", "prepare", "--format", "json"], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0 and "no guest kernel" in out.stderr:
        pytest.skip("no guest kernel installed (linux-image-cloud-amd64)")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def make_disks(tmp_path, rootfs, config):
    root_img = tmp_path / "root.img"
    with open(root_img, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", rootfs, str(root_img)], check=True)
    cfg = tmp_path / "config.img"
    data = json.dumps(config).encode()
    cfg.write_bytes(data + b"\0" * (4096 - len(data)))
    return root_img, cfg


def host_tsc_khz():
    """TCG's guest TSC runs at the host's rate; the kernel must be told it (tsc_early_khz) or its
    clocks and timers are off by orders of magnitude."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return int(float(line.split(":")[1]) * 1000)
    return 2000000


def qemu_cmd(kernel, root_img, cfg, extra=()):
    return ["qemu-system-x86_64", "-M", "microvm,acpi=on,rtc=on", "-accel", "tcg", "-cpu", "max",
            "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-serial", "stdio", "-kernel", kernel["kernel"], "-initrd", kernel["initramfs"],
            "-append", f"console=ttyS0 tsc_early_khz={host_tsc_khz()} quiet panic=-1 berth.root=/dev/vda berth.config=/dev/vdb",
            "-drive", f"id=root,file={root_img},format=raw,if=none", "-device", "virtio-blk-device,drive=root",
            "-drive", f"id=cfg,file={cfg},format=raw,if=none,readonly=on", "-device", "virtio-blk-device,drive=cfg",
            *extra]


def test_initramfs_cli_errors(berth_env):
    p = subprocess.run([binary("berth"), "kernel", "prepare", "--version", "../etc"], env=berth_env,
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "bad kernel version" in p.stderr
    p = subprocess.run([binary("berth"), "kernel", "prepare", "--version", "0.0-none"], env=berth_env,
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "/boot/vmlinuz-0.0-none" in p.stderr
    assert not os.path.exists(os.path.join(berth_env["BERTH_ROOT"], "kernels", "0.0-none", "initramfs.img"))


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="qemu-system-x86_64 not installed")
def test_stock_kernel_runs_command_with_identity(berth_env, busybox_rootfs, tmp_path):
    kernel = prepare_kernel(berth_env)
    config = {"args": ["/bin/sh", "-c", "echo marker-$((6*7)); hostname; cat /etc/machine-id; echo data > /persist; sync; exit 3"],
              "hostname": "guest-one", "machine_id": "0123456789abcdef0123456789abcdef",
              "random_seed": "00112233445566778899aabbccddeeff"}
    root_img, cfg = make_disks(tmp_path, busybox_rootfs, config)
    p = subprocess.run(qemu_cmd(kernel, root_img, cfg), capture_output=True, text=True, timeout=180)
    out = p.stdout
    assert "berth-agent: root /dev/vda mounted" in out, out[-3000:]
    assert "marker-42" in out
    assert "guest-one" in out
    assert "0123456789abcdef0123456789abcdef" in out
    assert "berth-agent: exit status 3" in out
    # The write from inside the guest reached the disk file.
    dump = subprocess.run(["debugfs", "-R", "cat /persist", str(root_img)], capture_output=True, text=True)
    assert dump.stdout.strip() == "data"


def read_frame(sock):
    hdr = b""
    while len(hdr) < 5:
        chunk = sock.recv(5 - len(hdr))
        assert chunk, "agent channel closed"
        hdr += chunk
    t, n = hdr[0], struct.unpack(">I", hdr[1:])[0]
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk
        data += chunk
    return chr(t), data


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="qemu-system-x86_64 not installed")
def test_exec_over_agent_channel(berth_env, busybox_rootfs, tmp_path):
    kernel = prepare_kernel(berth_env)
    root_img, cfg = make_disks(tmp_path, busybox_rootfs, {"args": ["/bin/sleep", "120"], "hostname": "exec-vm"})
    chan = tmp_path / "agent.sock"
    extra = ["-device", "virtio-serial-device", "-chardev", f"socket,id=agent,path={chan},server=on,wait=off",
             "-device", "virtserialport,chardev=agent,name=berth.agent"]
    vm = subprocess.Popen(qemu_cmd(kernel, root_img, cfg, extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while not chan.exists():
            assert time.time() < deadline and vm.poll() is None
            time.sleep(0.1)
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(chan))
        s.settimeout(120)
        req = json.dumps({"args": ["/bin/sh", "-c", "read x; echo got-$x; hostname; echo err >&2; exit 7"]}).encode()
        s.sendall(b"R" + struct.pack(">I", len(req)) + req)
        s.sendall(b"I" + struct.pack(">I", 6) + b"hello\n")
        s.sendall(b"E" + struct.pack(">I", 0))
        out, err, status = b"", b"", None
        while status is None:
            t, data = read_frame(s)
            if t == "O":
                out += data
            elif t == "e":
                err += data
            elif t == "X":
                status = json.loads(data)["status"]
            elif t == "F":
                pytest.fail(data.decode())
        assert out.decode().split() == ["got-hello", "exec-vm"]
        assert err == b"err\n"
        assert status == 7
        # A garbage request is answered with a failure frame, and the agent keeps serving.
        s.sendall(b"R" + struct.pack(">I", 3) + b"{x]")
        t, data = read_frame(s)
        assert t == "F" and b"bad request" in data
        req = json.dumps({"args": ["/nonexistent"]}).encode()
        s.sendall(b"R" + struct.pack(">I", len(req)) + req)
        frames = [read_frame(s), read_frame(s)]
        assert ("X", b'{"status":127}') in frames
        s.close()
    finally:
        vm.kill()
        vm.wait()
