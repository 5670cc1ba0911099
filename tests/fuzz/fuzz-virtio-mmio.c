/* Fuzzes whole virtio devices through their MMIO registers, the way a hostile guest drives them:
 * register writes and reads in any order (negotiation, queue set-up, notifications, config
 * space) against guest RAM that is also fuzz input. Input layout:
 *   0      u8   device: 0 rng, 1 blk, 2 net, 3 console, 4 vsock, 5 balloon
 *   1..2   u16  number of script steps N (at most 256)
 *   3..    N steps of 7 bytes: u8 op (0 read, 1 write, 2 backend events, 3 ioeventfd notify),
 *          u16 register offset (0..0x1ff), u32 value
 *   rest   guest RAM (at 0x10000, 64 KiB)
 * Devices live across inputs (their backends are costly to build); every input starts with a
 * device reset, as a rebooting guest would. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_GPA 0x10000
#define RAM_SIZE 65536
#define N_DEVICES 6

static uint8_t *ram;
static struct guest_memory mem;
static struct virtio_mmio *devices[N_DEVICES];
static char vsock_dir[64];

static int no_irq(void *opaque, uint32_t gsi)
{
    return 0;
}

static void cleanup(void)
{
    for (int i = 0; i < N_DEVICES; i++)
        virtio_mmio_free(devices[i]);
    if (vsock_dir[0])
        rmdir(vsock_dir);
    munmap(ram, RAM_SIZE);
}

static void setup(void)
{
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED || guest_memory_add_region(&mem, RAM_GPA, RAM_SIZE, ram) < 0)
        abort();
    struct virtio_dev *dev[N_DEVICES] = { 0 };
    int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
    char path[128];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct disk *d;
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0 || disk_raw_open(path, false, &d, NULL) < 0)
        abort();
    close(fd);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    /* The peer end stays open and unread: sends fail with EAGAIN once it is full, like a busy tap. */
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        abort();
    strcpy(vsock_dir, "/tmp/berth-fuzz-vsock-XXXXXX");
    if (!mkdtemp(vsock_dir))
        abort();
    snprintf(path, sizeof(path), "%s/v.sock", vsock_dir);
    if (virtio_rng_new(&dev[0], NULL) < 0 || virtio_blk_new(d, "fuzz", &dev[1], NULL) < 0 ||
        virtio_net_new(sv[0], (const uint8_t[6]){ 2, 0, 0, 0, 0, 1 }, &dev[2], NULL) < 0 ||
        virtio_console_new(in[0], open("/dev/null", O_WRONLY | O_CLOEXEC), &dev[3], NULL) < 0 ||
        virtio_vsock_new(3, path, &dev[4], NULL) < 0 || virtio_balloon_new(&dev[5], NULL) < 0)
        abort();
    for (int i = 0; i < N_DEVICES; i++) {
        struct irq_line irq = { .gsi = 5, .trigger = no_irq };
        if (virtio_mmio_new(dev[i], &mem, irq, &devices[i], NULL) < 0)
            abort();
    }
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ram)
        setup();
    if (size < 3)
        return 0;
    struct virtio_mmio *vm = devices[data[0] % N_DEVICES];
    size_t steps = get_le16(data + 1) % 257;
    const uint8_t *script = data + 3;
    if (3 + 7 * steps > size)
        steps = (size - 3) / 7;
    const uint8_t *rest = script + 7 * steps;
    size_t rest_len = size - (size_t) (rest - data);
    memset(ram, 0, RAM_SIZE);
    memcpy(ram, rest, rest_len < RAM_SIZE ? rest_len : RAM_SIZE);

    uint32_t zero = 0;
    virtio_mmio_bus_ops.write(vm, VIRTIO_MMIO_STATUS, (const uint8_t *) &zero, 4);
    for (size_t i = 0; i < steps; i++) {
        const uint8_t *s = script + 7 * i;
        uint64_t off = get_le16(s + 1) % VIRTIO_MMIO_SIZE;
        uint8_t val[4];
        memcpy(val, s + 3, 4);
        /* Access widths the bus can produce: 1, 2 or 4 bytes, within the window. */
        uint32_t len = 1u << (s[0] >> 4 & 3);
        if (len > 4)
            len = 4;
        if (off + len > VIRTIO_MMIO_SIZE)
            off = VIRTIO_MMIO_SIZE - len;
        switch (s[0] & 3) {
        case 0:
            virtio_mmio_bus_ops.read(vm, off, val, len);
            break;
        case 1:
            virtio_mmio_bus_ops.write(vm, off, val, (s[0] >> 4 & 3) == 0 ? 4 : len);
            break;
        case 2:
            virtio_mmio_handle_events(vm);
            break;
        case 3:
            virtio_mmio_queue_notify(vm, get_le32(val));
            break;
        }
    }
    virtio_mmio_bus_ops.write(vm, VIRTIO_MMIO_STATUS, (const uint8_t *) &zero, 4);
    return 0;
}
