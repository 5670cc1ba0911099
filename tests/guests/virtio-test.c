/* virtio-test: drives berth-vmm's virtio devices the way a driver does, from ring 3: finds them
 * through the ACPI DSDT (LNRO0005), negotiates features, then per command-line switch:
 *   blk=1        reads sector 0 (prints its text), writes "written by the guest" to sector 1,
 *                flushes, reads it back, prints the serial (GET_ID); blk_ro=1 expects the write
 *                to fail with VIRTIO_BLK_S_IOERR instead
 *   rng=1        reads 64 random bytes
 *   net=1        ip=A.B.C.D host=A.B.C.D: ARP for the host, ICMP echo to it, waits for the reply
 *   vsock_connect=P  connects to host port P, sends a line, prints the answer
 *   vsock_listen=P   accepts a host connection on port P and echoes one message back prefixed
 *                    by "echo:"
 *   blk_bench=N [blk_qd=Q]  N random 4 KiB reads, Q in flight (bench/vmm-devices times it)
 * Prints "virtio-test: N failures" and exits with status N through the debug-exit port. */
#include "lib/guest.h"
#include "lib/virtio.h"

#define SPINS 400000000ull

static int failures;

static void fail(const char *what)
{
    printk("virtio-test: FAIL %s\n", what);
    failures++;
}

static int flag(const char *key)
{
    char buf[16];
    return cmdline_get(key, buf, sizeof(buf)) != 0;
}

static uint64_t num(const char *key)
{
    char buf[24];
    return cmdline_get(key, buf, sizeof(buf)) ? parse_u64(buf) : 0;
}

static int parse_ip(const char *key, uint8_t ip[4])
{
    char buf[24];
    if (!cmdline_get(key, buf, sizeof(buf)))
        return -1;
    const char *p = buf;
    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            v = v * 10 + (unsigned) (*p++ - '0');
        if (v > 255 || (i < 3 && *p++ != '.'))
            return -1;
        ip[i] = (uint8_t) v;
    }
    return 0;
}

static void test_blk(void)
{
    struct vg_dev d;
    if (vg_find(&d, VG_ID_BLK, 0) < 0)
        return fail("blk: no device");
    if (vg_init(&d, 0, 1) < 0)
        return fail("blk: init");
    printk("virtio-blk: capacity %lu sectors\n", (unsigned long) vg_blk_capacity(&d));
    uint8_t *buf = alloc_pages(1);
    if (vg_blk_request(&d, 0, 0, buf, 512) != 0)
        return fail("blk: read sector 0");
    buf[63] = 0;
    printk("virtio-blk: sector 0: %s\n", (const char *) buf);
    memset(buf, 0, 512);
    memcpy(buf, "written by the guest", 21);
    int st = vg_blk_request(&d, 1, 1, buf, 512);
    if (flag("blk_ro")) {
        if (st != 1)
            return fail("blk: write to a read-only disk did not fail with IOERR");
        printk("virtio-blk: write refused (read-only)\n");
    } else {
        if (st != 0 || vg_blk_request(&d, 4, 0, 0, 0) != 0)
            return fail("blk: write/flush");
        memset(buf, 0, 512);
        if (vg_blk_request(&d, 0, 1, buf, 512) != 0 || memcmp(buf, "written by the guest", 21) != 0)
            return fail("blk: read back");
        printk("virtio-blk: wrote and read back sector 1\n");
    }
    memset(buf, 0, 32);
    if (vg_blk_request(&d, 8, 0, buf, 20) != 0)
        return fail("blk: get-id");
    printk("virtio-blk: serial %s\n", (const char *) buf);
}

static void test_rng(void)
{
    struct vg_dev d;
    if (vg_find(&d, VG_ID_RNG, 0) < 0 || vg_init(&d, 0, 1) < 0)
        return fail("rng: init");
    uint8_t *buf = alloc_pages(1);
    int n = vg_rng_read(&d, buf, 64);
    int nonzero = 0;
    for (int i = 0; i < 64; i++)
        nonzero += buf[i] != 0;
    if (n != 64 || nonzero < 32)
        return fail("rng: read");
    printk("virtio-rng: 64 random bytes\n");
}

static uint16_t csum(const uint8_t *p, int len)
{
    uint32_t s = 0;
    for (int i = 0; i + 1 < len; i += 2)
        s += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint32_t) p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t) ~s;
}

static void test_net(void)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xbe, 0x27, 0x01 };
    uint8_t ip[4], host[4], host_mac[6];
    if (parse_ip("ip", ip) < 0 || parse_ip("host", host) < 0)
        return fail("net: ip= and host= are needed");
    struct vg_dev d;
    if (vg_find(&d, VG_ID_NET, 0) < 0 || vg_init(&d, 0, 2) < 0 || vg_net_start(&d) < 0)
        return fail("net: init");
    uint8_t *f = alloc_pages(1), *r = alloc_pages(1);
    /* ARP request: who has host? tell ip. */
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;
    static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
    memcpy(f + 14, arp_hdr, 8);
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, ip, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, host, 4);
    int got_arp = 0;
    for (int attempt = 0; attempt < 5 && !got_arp; attempt++) {
        if (vg_net_send(&d, f, 42) < 0)
            return fail("net: send ARP");
        for (int k = 0; k < 16 && !got_arp; k++) {
            int n = vg_net_recv(&d, r, 2048, SPINS / 16);
            if (n < 0)
                break;
            if (n >= 42 && r[12] == 0x08 && r[13] == 0x06 && r[21] == 2 && !memcmp(r + 28, host, 4)) {
                memcpy(host_mac, r + 22, 6);
                got_arp = 1;
            }
        }
    }
    if (!got_arp)
        return fail("net: no ARP reply");
    printk("virtio-net: ARP reply from the host\n");
    /* ICMP echo request. */
    memset(f, 0, 98);
    memcpy(f, host_mac, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08;
    uint8_t *iph = f + 14, *icmp = f + 34;
    iph[0] = 0x45;
    iph[3] = 84;
    iph[8] = 64;
    iph[9] = 1;
    memcpy(iph + 12, ip, 4);
    memcpy(iph + 16, host, 4);
    uint16_t c = csum(iph, 20);
    iph[10] = (uint8_t) (c >> 8), iph[11] = (uint8_t) c;
    icmp[0] = 8;
    icmp[4] = 0xbe, icmp[5] = 0x27, icmp[7] = 1;
    memcpy(icmp + 8, "berth virtio-net echo", 21);
    c = csum(icmp, 64);
    icmp[2] = (uint8_t) (c >> 8), icmp[3] = (uint8_t) c;
    if (vg_net_send(&d, f, 98) < 0)
        return fail("net: send ICMP");
    for (int k = 0; k < 32; k++) {
        int n = vg_net_recv(&d, r, 2048, SPINS / 16);
        if (n < 0)
            break;
        if (n >= 98 && r[12] == 0x08 && r[13] == 0 && r[23] == 1 && r[34] == 0 &&
            !memcmp(r + 42, "berth virtio-net echo", 21)) {
            printk("virtio-net: ICMP echo reply from the host\n");
            return;
        }
    }
    fail("net: no ICMP echo reply");
}

static void test_vsock(void)
{
    struct vg_dev d;
    static struct vg_vsock s;
    if (vg_find(&d, VG_ID_VSOCK, 0) < 0 || vg_init(&d, 0, 3) < 0 || vg_vsock_start(&d, &s) < 0)
        return fail("vsock: init");
    printk("virtio-vsock: guest cid %lu\n", (unsigned long) s.cid);
    char *buf = alloc_pages(1);
    uint32_t port = (uint32_t) num("vsock_connect");
    if (port) {
        if (vg_vsock_connect(&s, 40000, port, SPINS) < 0)
            return fail("vsock: connect to the host");
        memcpy(buf, "hello from the guest\n", 21);
        if (vg_vsock_send(&s, buf, 21) < 0)
            return fail("vsock: send");
        memset(buf, 0, 256);
        int n = vg_vsock_recv(&s, buf, 255, SPINS);
        if (n <= 0)
            return fail("vsock: no answer from the host");
        printk("virtio-vsock: host said: %s", buf);
        vg_vsock_close(&s, SPINS);
    }
    port = (uint32_t) num("vsock_listen");
    if (port) {
        if (vg_vsock_accept(&s, port, SPINS * 4) < 0)
            return fail("vsock: no host connection");
        memcpy(buf, "echo:", 5);
        int n = vg_vsock_recv(&s, buf + 5, 200, SPINS);
        if (n <= 0)
            return fail("vsock: nothing received");
        if (vg_vsock_send(&s, buf, (uint32_t) n + 5) < 0)
            return fail("vsock: echo");
        printk("virtio-vsock: echoed %d bytes\n", n);
        /* Wait for the host to close, then close our side. */
        while (vg_vsock_recv(&s, buf, 200, SPINS) > 0)
            ;
        vg_vsock_close(&s, SPINS);
    }
}

/* blk_bench=N [blk_qd=Q]: N random 4 KiB reads over the whole disk, Q in flight (default 1).
 * The host times the run (bench/vmm-devices); the guest only does the I/O. */
static void bench_blk(uint64_t n, uint64_t qd)
{
    struct vg_dev d;
    if (vg_find(&d, VG_ID_BLK, 0) < 0 || vg_init(&d, 0, 1) < 0)
        return fail("blk bench: init");
    if (qd < 1)
        qd = 1;
    if (qd > 16)
        qd = 16;
    uint64_t blocks = vg_blk_capacity(&d) / 8;
    if (!blocks)
        return fail("blk bench: empty disk");
    uint8_t *hdrs = alloc_pages(1), *data = alloc_pages(16);
    uint64_t rng = 0x9e3779b97f4a7c15ull, issued = 0, done = 0;
    int slot_of[VG_QUEUE_SIZE];
    int free_slots[16], n_free = (int) qd;
    for (int i = 0; i < (int) qd; i++)
        free_slots[i] = i;
    while (done < n) {
        while (issued < n && n_free > 0) {
            int s = free_slots[--n_free];
            uint8_t *h = hdrs + 32 * s;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            uint64_t sector = (rng % blocks) * 8;
            memset(h, 0, 16);
            for (int b = 0; b < 8; b++)
                h[8 + b] = (uint8_t) (sector >> (8 * b));
            struct vg_buf out = { h, 16 };
            struct vg_buf in[2] = { { data + 4096 * s, 4096 }, { h + 16, 1 } };
            int head = vg_add(&d, 0, &out, 1, in, 2);
            if (head < 0)
                return fail("blk bench: queue full");
            slot_of[head] = s;
            issued++;
        }
        vg_kick(&d, 0);
        uint32_t len;
        int head = vg_wait(&d, 0, &len, SPINS);
        if (head < 0)
            return fail("blk bench: request lost");
        do {
            int s = slot_of[head];
            if (hdrs[32 * s + 16] != 0)
                return fail("blk bench: I/O error");
            free_slots[n_free++] = s;
            done++;
        } while ((head = vg_get(&d, 0, &len)) >= 0);
    }
    printk("virtio-blk: bench %lu reads qd %lu\n", (unsigned long) n, (unsigned long) qd);
}

static long run(long unused)
{
    (void) unused;
    if (flag("blk"))
        test_blk();
    if (flag("rng"))
        test_rng();
    if (flag("net"))
        test_net();
    if (flag("vsock_connect") || flag("vsock_listen"))
        test_vsock();
    if (num("blk_bench"))
        bench_blk(num("blk_bench"), num("blk_qd"));
    return 0;
}

void guest_main(void)
{
    user_call(run, 0);
    printk("virtio-test: %d failures\n", failures);
    debug_exit((uint32_t) failures);
}
