/* The test guests' virtio driver (tests/guests/lib/virtio.c, compiled here with -DVG_HOST)
 * against berth's device models, wired the way berth-vmm wires them: each device's MMIO window
 * on a struct bus, an event thread polling the devices' event fds like the VMM's event loop,
 * real backends (raw disk file, socketpair "tap", pipes, Unix sockets). Two independent
 * implementations of the spec meeting in the middle. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices/bus.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"
#include "vmm/kvm/guest-memory.h"
#include "virtio.h"

#define RAM_GPA 0x100000ull
#define RAM_SIZE (8u << 20)
#define MMIO_BASE 0xd0000000ull
#define SPINS 50000000ull

static uint8_t *ram;
static uint64_t next_page;
static struct guest_memory mem;
static struct bus bus;
static struct virtio_mmio *devs[8];
static int n_devs;
static volatile bool stop_events;

uint32_t vg_mmio_read32(uint64_t addr)
{
    uint32_t v;
    bus_read(&bus, addr, (uint8_t *) &v, 4);
    return v;
}

void vg_mmio_write32(uint64_t addr, uint32_t v)
{
    bus_write(&bus, addr, (const uint8_t *) &v, 4);
}

uint8_t vg_mmio_read8(uint64_t addr)
{
    uint8_t v;
    bus_read(&bus, addr, &v, 1);
    return v;
}

void *vg_alloc_pages(size_t n)
{
    if (next_page + 4096 * n > RAM_SIZE)
        abort();
    void *p = ram + next_page;
    next_page += 4096 * n;
    memset(p, 0, 4096 * n);
    return p;
}

uint64_t vg_phys(const void *p)
{
    return RAM_GPA + (uint64_t) ((const uint8_t *) p - ram);
}

static void *event_loop(void *arg)
{
    while (!stop_events) {
        struct pollfd p[8];
        int map[8], n = 0;
        for (int i = 0; i < n_devs; i++) {
            int fd = virtio_mmio_event_fd(devs[i]);
            if (fd >= 0) {
                p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
                map[n++] = i;
            }
        }
        if (poll(p, (nfds_t) n, 10) <= 0)
            continue;
        for (int i = 0; i < n; i++)
            if (p[i].revents & POLLIN)
                virtio_mmio_handle_events(devs[map[i]]);
    }
    return NULL;
}

static uint64_t attach(struct virtio_dev *dev)
{
    uint64_t base = MMIO_BASE + 0x1000ull * (uint64_t) n_devs;
    struct irq_line irq = { .gsi = 5 };
    assert_int_equal(virtio_mmio_new(dev, &mem, irq, &devs[n_devs], NULL), 0);
    assert_int_equal(bus_register(&bus, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, devs[n_devs], "virtio"), 0);
    n_devs++;
    return base;
}

struct world {
    char dir[64], disk[96], vsock[96];
    int net_peer;
    int con_in, con_out;
    uint64_t blk, rng, net, con, vs;
    pthread_t events;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    ram = aligned_alloc(4096, RAM_SIZE);
    memset(&mem, 0, sizeof(mem));
    memset(&bus, 0, sizeof(bus));
    n_devs = 0;
    next_page = 0;
    stop_events = false;
    vg_forget();
    assert_int_equal(guest_memory_add_region(&mem, RAM_GPA, RAM_SIZE, ram), 0);
    strcpy(w->dir, "/tmp/berth-test-vgd-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->disk, sizeof(w->disk), "%s/disk.img", w->dir);
    snprintf(w->vsock, sizeof(w->vsock), "%s/v.sock", w->dir);
    int fd = open(w->disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    char sector[512];
    memset(sector, 0, sizeof(sector));
    strcpy(sector, "berth disk sector 0");
    assert_int_equal(pwrite(fd, sector, 512, 0), 512);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);

    struct disk *d;
    struct virtio_dev *dev;
    assert_int_equal(disk_raw_open(w->disk, false, &d, NULL), 0);
    assert_int_equal(virtio_blk_new(d, "guest-test", &dev, NULL), 0);
    w->blk = attach(dev);
    assert_int_equal(virtio_rng_new(&dev, NULL), 0);
    w->rng = attach(dev);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(virtio_net_new(sv[0], (const uint8_t[6]){ 2, 0, 0, 0, 0, 9 }, &dev, NULL), 0);
    w->net_peer = sv[1];
    w->net = attach(dev);
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(virtio_console_new(in[0], out[1], &dev, NULL), 0);
    w->con_in = in[1];
    w->con_out = out[0];
    w->con = attach(dev);
    assert_int_equal(virtio_vsock_new(77, w->vsock, &dev, NULL), 0);
    w->vs = attach(dev);
    assert_int_equal(pthread_create(&w->events, NULL, event_loop, NULL), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    stop_events = true;
    pthread_join(w->events, NULL);
    for (int i = 0; i < n_devs; i++)
        virtio_mmio_free(devs[i]);
    close(w->net_peer);
    close(w->con_in);
    close(w->con_out);
    unlink(w->disk);
    rmdir(w->dir);
    free(ram);
    free(w);
    return 0;
}

static void test_probe_and_blk(void **state)
{
    struct world *w = *state;
    struct vg_dev d;
    assert_int_equal(vg_probe(&d, MMIO_BASE + 0x100000), -1); /* nothing there */
    assert_int_equal(vg_probe(&d, w->blk), 0);
    assert_int_equal(d.device_id, VG_ID_BLK);
    assert_int_equal(vg_init(&d, 0, 1), 0);
    assert_int_equal(vg_blk_capacity(&d), 2048);
    uint8_t *buf = vg_alloc_pages(2);
    assert_int_equal(vg_blk_request(&d, 0, 0, buf, 512), 0);
    assert_string_equal((char *) buf, "berth disk sector 0");
    memset(buf, 0, 1024);
    strcpy((char *) buf, "written by the guest driver");
    assert_int_equal(vg_blk_request(&d, 1, 7, buf, 1024), 0);
    assert_int_equal(vg_blk_request(&d, 4, 0, NULL, 0), 0);
    memset(buf, 0, 1024);
    assert_int_equal(vg_blk_request(&d, 0, 7, buf, 512), 0);
    assert_string_equal((char *) buf, "written by the guest driver");
    assert_int_equal(vg_blk_request(&d, 8, 0, buf, 20), 0);
    assert_memory_equal(buf, "guest-test", 10);
    assert_int_equal(vg_blk_request(&d, 0, 2048, buf, 512), 1); /* past the end: IOERR */
    int fd = open(w->disk, O_RDONLY | O_CLOEXEC);
    char back[32] = { 0 };
    assert_int_equal(pread(fd, back, 27, 7 * 512), 27);
    close(fd);
    assert_string_equal(back, "written by the guest driver");
}

static void test_rng(void **state)
{
    struct world *w = *state;
    struct vg_dev d;
    assert_int_equal(vg_probe(&d, w->rng), 0);
    assert_int_equal(vg_init(&d, 0, 1), 0);
    uint8_t *buf = vg_alloc_pages(1);
    assert_int_equal(vg_rng_read(&d, buf, 256), 256);
    int nonzero = 0;
    for (int i = 0; i < 256; i++)
        nonzero += buf[i] != 0;
    assert_true(nonzero > 200);
}

static void test_net(void **state)
{
    struct world *w = *state;
    struct vg_dev d;
    assert_int_equal(vg_probe(&d, w->net), 0);
    assert_int_equal(d.device_id, VG_ID_NET);
    assert_int_equal(vg_init(&d, 1ull << 5 /* MAC */, 2), 0);
    uint8_t mac[6];
    vg_config_read(&d, 0, mac, 6);
    assert_int_equal(mac[5], 9);
    assert_int_equal(vg_net_start(&d), 0);
    uint8_t *frame = vg_alloc_pages(1);
    memset(frame, 0xab, 60);
    assert_int_equal(vg_net_send(&d, frame, 60), 0);
    uint8_t got[128];
    assert_int_equal(recv(w->net_peer, got, sizeof(got), 0), 72);
    assert_int_equal(got[12], 0xab);
    uint8_t reply[12 + 64] = { 0 };
    memset(reply + 12, 0xcd, 64);
    assert_int_equal(send(w->net_peer, reply, sizeof(reply), 0), (ssize_t) sizeof(reply));
    uint8_t in[2048];
    assert_int_equal(vg_net_recv(&d, in, sizeof(in), SPINS), 64);
    assert_int_equal(in[63], 0xcd);
}

static void test_console(void **state)
{
    struct world *w = *state;
    struct vg_dev d;
    assert_int_equal(vg_probe(&d, w->con), 0);
    assert_int_equal(vg_init(&d, 0, 2), 0);
    assert_int_equal(vg_console_start(&d), 0);
    assert_int_equal(vg_console_write(&d, "guest says hi\n", 14), 0);
    char buf[32] = { 0 };
    assert_int_equal(read(w->con_out, buf, sizeof(buf)), 14);
    assert_string_equal(buf, "guest says hi\n");
    assert_int_equal(write(w->con_in, "typed", 5), 5);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(vg_console_read(&d, buf, sizeof(buf), SPINS), 5);
    assert_string_equal(buf, "typed");
}

static void test_vsock(void **state)
{
    struct world *w = *state;
    struct vg_dev d;
    struct vg_vsock s;
    assert_int_equal(vg_probe(&d, w->vs), 0);
    assert_int_equal(vg_init(&d, 0, 3), 0);
    assert_int_equal(vg_vsock_start(&d, &s), 0);
    assert_int_equal(s.cid, 77);

    /* Host to guest: CONNECT through the Unix socket, the guest accepts. */
    int h = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, w->vsock);
    assert_int_equal(connect(h, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(write(h, "CONNECT 1234\n", 13), 13);
    assert_int_equal(vg_vsock_accept(&s, 1234, SPINS), 0);
    char line[64] = { 0 };
    ssize_t n = read(h, line, sizeof(line) - 1);
    assert_true(n > 3 && !strncmp(line, "OK ", 3));
    uint8_t *buf = vg_alloc_pages(1);
    memcpy(buf, "from guest", 10);
    assert_int_equal(vg_vsock_send(&s, buf, 10), 0);
    memset(line, 0, sizeof(line));
    assert_int_equal(read(h, line, sizeof(line)), 10);
    assert_string_equal(line, "from guest");
    assert_int_equal(write(h, "from host", 9), 9);
    char in[32] = { 0 };
    assert_int_equal(vg_vsock_recv(&s, in, sizeof(in), SPINS), 9);
    assert_string_equal(in, "from host");
    close(h);
    assert_int_equal(vg_vsock_recv(&s, in, sizeof(in), SPINS), 0); /* host closed */
    vg_vsock_close(&s, SPINS);

    /* Guest to host: <uds>_5000. */
    char lpath[128];
    snprintf(lpath, sizeof(lpath), "%s_5000", w->vsock);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    strcpy(sa.sun_path, lpath);
    assert_int_equal(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(vg_vsock_connect(&s, 3000, 5000, SPINS), 0);
    h = accept(l, NULL, NULL);
    memcpy(buf, "ping", 4);
    assert_int_equal(vg_vsock_send(&s, buf, 4), 0);
    memset(line, 0, sizeof(line));
    assert_int_equal(read(h, line, sizeof(line)), 4);
    assert_string_equal(line, "ping");
    vg_vsock_close(&s, SPINS);
    assert_int_equal(read(h, line, sizeof(line)), 0); /* the guest's close reached the host */
    close(h);
    close(l);
    unlink(lpath);
    /* Nobody listens on 5001: refused. */
    assert_int_equal(vg_vsock_connect(&s, 3001, 5001, SPINS), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_probe_and_blk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rng, setup, teardown),
        cmocka_unit_test_setup_teardown(test_net, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vsock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
