/* virtio-net and virtio-console against fake backends: a SOCK_SEQPACKET socketpair stands for
 * the tap (one datagram = one frame with its virtio_net_hdr), pipes for the console. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices/virtio/virtio-net.h"
#include "virtio-fake-driver.h"

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct net_env {
    struct fake_guest g;
    int peer;
};

static struct net_env *setup_net(uint64_t features)
{
    struct net_env *e = calloc(1, sizeof(*e));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct virtio_dev *dev;
    assert_int_equal(virtio_net_new(sv[0], test_mac, &dev, NULL), 0);
    e->peer = sv[1];
    assert_int_equal(fake_guest_init(&e->g, dev), 0);
    assert_true(driver_start(&e->g, FEATURES_V1 | features, 2, 16) & VIRTIO_STATUS_FEATURES_OK);
    return e;
}

static void teardown_net(struct net_env *e)
{
    fake_guest_fini(&e->g);
    close(e->peer);
    free(e);
}

/* What the VMM's event loop does: wait for the device's fd, then let it work. */
static void pump(struct fake_guest *g)
{
    struct pollfd p = { .fd = virtio_mmio_event_fd(g->vm), .events = POLLIN };
    if (poll(&p, 1, 1000) > 0)
        virtio_mmio_handle_events(g->vm);
}

static uint64_t post_rx(struct fake_guest *g, uint32_t len)
{
    uint64_t buf = fake_alloc(g, len, 8);
    struct fake_buf b = { buf, len, true };
    add_chain(g, 0, &b, 1);
    return buf;
}

static void test_net_config(void **state)
{
    struct net_env *e = setup_net(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint8_t mac[6];
    config_read(&e->g, 0, mac, 6);
    assert_memory_equal(mac, test_mac, 6);
    uint16_t status;
    config_read(&e->g, 6, &status, 2);
    assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
    uint64_t f = device_features(&e->g);
    assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
    /* Not a tap: no offloads offered. */
    assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4));
    assert_true(virtio_mmio_event_fd(e->g.vm) >= 0);
    teardown_net(e);
}

static void test_net_tap_offload_mapping(void **state)
{
    assert_int_equal(virtio_net_tap_offloads(0), 0);
    assert_int_equal(virtio_net_tap_offloads(VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)), TUN_F_CSUM);
    assert_int_equal(virtio_net_tap_offloads(VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
                                             VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)),
                     TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
    /* Host-side (guest transmit) offloads need no tap setting. */
    assert_int_equal(virtio_net_tap_offloads(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4)), 0);
}

static void test_net_tx(void **state)
{
    struct net_env *e = setup_net(0);
    struct fake_guest *g = &e->g;
    uint64_t hdr = fake_alloc(g, 12, 8), pkt = fake_alloc(g, 60, 8);
    memset(gpa_ptr(g, pkt), 0x42, 60);
    ((uint8_t *) gpa_ptr(g, hdr))[0] = 0; /* no checksum offload */
    struct fake_buf b[2] = { { hdr, 12, false }, { pkt, 60, false } };
    add_chain(g, 1, b, 2);
    kick(g, 1);
    uint8_t frame[128];
    assert_int_equal(recv(e->peer, frame, sizeof(frame), MSG_DONTWAIT), 72);
    assert_memory_equal(frame + 12, gpa_ptr(g, pkt), 60);
    uint32_t id, len;
    assert_int_equal(used_next(g, 1, &id, &len), 1);
    assert_int_equal(len, 0);
    /* A chain shorter than the header is returned and not sent. */
    struct fake_buf tiny = { hdr, 4, false };
    add_chain(g, 1, &tiny, 1);
    kick(g, 1);
    assert_int_equal(used_next(g, 1, &id, &len), 1);
    assert_int_equal(recv(e->peer, frame, sizeof(frame), MSG_DONTWAIT), -1);
    teardown_net(e);
}

static void send_frame(int peer, size_t payload, uint8_t fill)
{
    uint8_t frame[2048] = { 0 };
    memset(frame + 12, fill, payload);
    assert_int_equal(send(peer, frame, 12 + payload, 0), (ssize_t) (12 + payload));
}

static void test_net_rx_single(void **state)
{
    struct net_env *e = setup_net(0);
    struct fake_guest *g = &e->g;
    uint64_t buf = post_rx(g, 1526);
    kick(g, 0);
    send_frame(e->peer, 100, 0x77);
    pump(g);
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 112);
    uint8_t *p = gpa_ptr(g, buf);
    assert_int_equal(get_le16(p + 10), 1); /* num_buffers */
    assert_int_equal(p[12], 0x77);
    assert_int_equal(p[111], 0x77);
    assert_true(g->irqs > 0);

    /* Too large for the only buffer and no mergeable buffers: dropped; the buffer stays for the
     * next frame that fits. */
    uint64_t small = post_rx(g, 64);
    kick(g, 0);
    send_frame(e->peer, 200, 0x11);
    send_frame(e->peer, 20, 0x22);
    pump(g);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 32);
    assert_int_equal(((uint8_t *) gpa_ptr(g, small))[12], 0x22);
    teardown_net(e);
}

static void test_net_rx_mergeable_and_backpressure(void **state)
{
    struct net_env *e = setup_net(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
    struct fake_guest *g = &e->g;
    /* No buffers yet: the frame waits in the device. */
    send_frame(e->peer, 150, 0x33);
    pump(g);
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 0);
    uint64_t bufs[4];
    for (int i = 0; i < 4; i++)
        bufs[i] = post_rx(g, 64);
    kick(g, 0);
    /* 162 bytes over three 64-byte buffers. */
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 64);
    assert_int_equal(get_le16((uint8_t *) gpa_ptr(g, bufs[0]) + 10), 3);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 64);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 34);
    assert_int_equal(((uint8_t *) gpa_ptr(g, bufs[2]))[33], 0x33);
    assert_int_equal(used_next(g, 0, &id, &len), 0);
    /* The fourth buffer takes the next frame. */
    send_frame(e->peer, 10, 0x44);
    pump(g);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 22);
    assert_int_equal(get_le16((uint8_t *) gpa_ptr(g, bufs[3]) + 10), 1);
    teardown_net(e);
}

static void test_net_rx_buffer_must_be_writable(void **state)
{
    struct net_env *e = setup_net(0);
    struct fake_guest *g = &e->g;
    /* A read-only rx buffer has no room: returned empty, never written. */
    uint64_t buf = fake_alloc(g, 256, 8);
    memset(gpa_ptr(g, buf), 0xee, 256);
    struct fake_buf b = { buf, 256, false };
    add_chain(g, 0, &b, 1);
    kick(g, 0);
    send_frame(e->peer, 20, 0x55);
    pump(g);
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 0);
    assert_int_equal(((uint8_t *) gpa_ptr(g, buf))[0], 0xee);
    teardown_net(e);
}


/* A real tap, in a network namespace private to one thread: the guest pings the host kernel and
 * gets its reply through the device. Runs the driver side without cmocka asserts (they must not
 * longjmp across threads) and reports the first failing line. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            snprintf(tr->why, sizeof(tr->why), "line %d: %s", __LINE__, #c);                      \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

struct tap_result {
    char why[128];
    bool skipped;
};

static uint16_t csum16(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t) p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t) ~sum;
}

static void *tap_thread(void *arg)
{
    struct tap_result *tr = arg;
    struct fake_guest *g = NULL;
    int sock = -1;
    if (unshare(CLONE_NEWNET) < 0) {
        tr->skipped = true;
        return NULL;
    }
    int fd;
    if (virtio_net_open_tap("bvt0", &fd, NULL) < 0) {
        tr->skipped = true;
        return NULL;
    }
    struct virtio_dev *dev;
    CHECK(virtio_net_new(fd, test_mac, &dev, NULL) == 0);
    g = calloc(1, sizeof(*g));
    CHECK(fake_guest_init(g, dev) == 0);
    uint64_t offered = device_features(g);
    CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_CSUM));
    CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4));
    CHECK(offered & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6));
    /* TSO without checksum offload breaks a dependency: refused. */
    CHECK(!(driver_negotiate(g, FEATURES_V1 | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4)) & VIRTIO_STATUS_FEATURES_OK));
    uint64_t want = FEATURES_V1 | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
                    VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);
    CHECK(driver_start(g, want, 2, 16) & VIRTIO_STATUS_FEATURES_OK);
    CHECK(!(reg_read(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)); /* TUNSETOFFLOAD took it */

    /* Host side: 10.99.0.1/24 on the tap, a static neighbour entry for the guest. */
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    strcpy(ifr.ifr_name, "bvt0");
    struct sockaddr_in *sin = (struct sockaddr_in *) &ifr.ifr_addr;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, "10.99.0.1", &sin->sin_addr);
    CHECK(ioctl(sock, SIOCSIFADDR, &ifr) == 0);
    inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
    CHECK(ioctl(sock, SIOCSIFNETMASK, &ifr) == 0);
    CHECK(ioctl(sock, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags |= IFF_UP;
    CHECK(ioctl(sock, SIOCSIFFLAGS, &ifr) == 0);
    CHECK(ioctl(sock, SIOCGIFHWADDR, &ifr) == 0);
    uint8_t host_mac[6];
    memcpy(host_mac, ifr.ifr_hwaddr.sa_data, 6);
    struct arpreq arp = { 0 };
    struct sockaddr_in *ap = (struct sockaddr_in *) &arp.arp_pa;
    ap->sin_family = AF_INET;
    inet_pton(AF_INET, "10.99.0.2", &ap->sin_addr);
    arp.arp_ha.sa_family = ARPHRD_ETHER;
    memcpy(arp.arp_ha.sa_data, test_mac, 6);
    arp.arp_flags = ATF_PERM | ATF_COM;
    strcpy(arp.arp_dev, "bvt0");
    CHECK(ioctl(sock, SIOCSARP, &arp) == 0);

    for (int i = 0; i < 8; i++)
        post_rx(g, 2048);
    kick(g, 0);

    /* Guest: ICMP echo request 10.99.0.2 -> 10.99.0.1. */
    uint8_t f[12 + 14 + 20 + 16] = { 0 };
    uint8_t *eth = f + 12, *ip = eth + 14, *icmp = ip + 20;
    memcpy(eth, host_mac, 6);
    memcpy(eth + 6, test_mac, 6);
    eth[12] = 0x08;
    ip[0] = 0x45;
    ip[3] = 36; /* total length */
    ip[8] = 64;
    ip[9] = 1;
    inet_pton(AF_INET, "10.99.0.2", ip + 12);
    inet_pton(AF_INET, "10.99.0.1", ip + 16);
    uint16_t c = csum16(ip, 20);
    ip[10] = (uint8_t) (c >> 8), ip[11] = (uint8_t) c;
    icmp[0] = 8;
    icmp[4] = 0x12, icmp[5] = 0x34, icmp[7] = 1;
    memcpy(icmp + 8, "berthvio", 8);
    c = csum16(icmp, 16);
    icmp[2] = (uint8_t) (c >> 8), icmp[3] = (uint8_t) c;
    uint64_t tx = fake_alloc(g, sizeof(f), 8);
    memcpy(gpa_ptr(g, tx), f, sizeof(f));
    struct fake_buf b = { tx, sizeof(f), false };
    add_chain(g, 1, &b, 1);
    kick(g, 1);

    /* Look for the echo reply among what the host sends (IPv6 noise may come first). */
    bool got_reply = false;
    for (int tries = 0; tries < 20 && !got_reply; tries++) {
        pump(g);
        uint32_t id, len;
        while (used_next(g, 0, &id, &len)) {
            uint64_t addr;
            memcpy(&addr, (uint8_t *) gpa_ptr(g, g->q[0].desc + 16u * id), 8);
            const uint8_t *r = gpa_ptr(g, addr);
            if (len >= 12 + 14 + 20 + 16 && r[12 + 12] == 0x08 && r[12 + 13] == 0 && r[12 + 14 + 9] == 1 &&
                r[12 + 34] == 0 && !memcmp(r + 12 + 34 + 8, "berthvio", 8)) {
                CHECK(get_le16(r + 10) == 1); /* num_buffers */
                CHECK(!memcmp(r + 12, test_mac, 6));
                got_reply = true;
            }
            avail_publish(g, 0, (uint16_t) id);
            kick(g, 0);
        }
    }
    CHECK(got_reply);
out:
    if (sock >= 0)
        close(sock);
    if (g) {
        fake_guest_fini(g);
        free(g);
    }
    return NULL;
}

static void test_net_real_tap(void **state)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
        skip();
    struct tap_result tr = { 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tap_thread, &tr), 0);
    pthread_join(t, NULL);
    if (tr.skipped)
        skip();
    if (tr.why[0])
        fail_msg("%s", tr.why);
}

static void test_console(void **state)
{
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
    struct virtio_dev *dev;
    assert_int_equal(virtio_console_new(in[0], out[1], &dev, NULL), 0);
    struct fake_guest *g = calloc(1, sizeof(*g));
    assert_int_equal(fake_guest_init(g, dev), 0);
    assert_true(driver_start(g, FEATURES_V1 | VIRTIO_BIT(2), 2, 8) & VIRTIO_STATUS_FEATURES_OK);

    /* Output. */
    uint64_t msg = fake_alloc(g, 5, 1);
    memcpy(gpa_ptr(g, msg), "hello", 5);
    struct fake_buf b = { msg, 5, false };
    add_chain(g, 1, &b, 1);
    kick(g, 1);
    char got[16] = { 0 };
    assert_int_equal(read(out[0], got, sizeof(got)), 5);
    assert_memory_equal(got, "hello", 5);
    /* Emergency write through config space. */
    uint32_t ch = '!';
    virtio_mmio_bus_ops.write(g->vm, VIRTIO_MMIO_CONFIG + 8, (uint8_t *) &ch, 4);
    assert_int_equal(read(out[0], got, sizeof(got)), 1);
    assert_int_equal(got[0], '!');

    /* Input arriving before the guest has buffers waits for them. */
    assert_int_equal(write(in[1], "abc", 3), 3);
    pump(g);
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 0);
    uint64_t rx = fake_alloc(g, 2, 1), rx2 = fake_alloc(g, 16, 1);
    struct fake_buf r1 = { rx, 2, true }, r2 = { rx2, 16, true };
    add_chain(g, 0, &r1, 1);
    add_chain(g, 0, &r2, 1);
    kick(g, 0);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 2);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 1);
    assert_memory_equal(gpa_ptr(g, rx), "ab", 2);
    assert_memory_equal(gpa_ptr(g, rx2), "c", 1);
    /* Input while buffers are posted goes straight through. */
    uint64_t rx3 = fake_alloc(g, 16, 1);
    struct fake_buf r3 = { rx3, 16, true };
    add_chain(g, 0, &r3, 1);
    kick(g, 0);
    assert_int_equal(write(in[1], "xyz", 3), 3);
    pump(g);
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(gpa_ptr(g, rx3), "xyz", 3);
    /* EOF on input: unwatched, no busy loop. */
    close(in[1]);
    pump(g);
    struct pollfd p = { .fd = virtio_mmio_event_fd(g->vm), .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);
    fake_guest_fini(g);
    free(g);
    close(out[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_config),
        cmocka_unit_test(test_net_tap_offload_mapping),
        cmocka_unit_test(test_net_tx),
        cmocka_unit_test(test_net_rx_single),
        cmocka_unit_test(test_net_rx_mergeable_and_backpressure),
        cmocka_unit_test(test_net_rx_buffer_must_be_writable),
        cmocka_unit_test(test_net_real_tap),
        cmocka_unit_test(test_console),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
