/* net-bench: virtio-net throughput from ring 3, for bench/vmm-devices/net.py. The guest has no
 * clock it can trust under every VMM, so the host does the timing:
 *   net_tx=1   sends Ethernet frames (broadcast, ethertype 0x88b5, frame=BYTES, default 1514)
 *              as fast as the device takes them, forever; the host counts what reaches the tap.
 *   net_rx=1   receives frames forever and, after every mark=MIB (default 1) MiB of frames,
 *              sends one 60-byte frame back: the host counts those on the tap (serial output
 *              would cost far more than the frames under an emulated ring 0).
 * qd=N (1-64, default 32) is how many frames may be in flight: tx fills up to N descriptors
 * before kicking, rx keeps N buffers posted. Only VIRTIO_F_VERSION_1 is negotiated (no
 * offloads, no mergeable buffers), so each frame is one descriptor: a 12-byte virtio_net_hdr and
 * the frame. A kick is skipped while the device sets VIRTQ_USED_F_NO_NOTIFY, as drivers do. */
#include "lib/guest.h"
#include "lib/virtio.h"

#define NET_HDR 12
#define RX_BUF 2048

static uint64_t num(const char *key, uint64_t dflt)
{
    char buf[24];
    return cmdline_get(key, buf, sizeof(buf)) ? parse_u64(buf) : dflt;
}

static void kick_if_wanted(struct vg_dev *d, unsigned qi)
{
    __asm__ volatile("mfence" ::: "memory");
    /* used->flags bit 0: the device is polling and asked not to be notified. */
    if (!(*(volatile uint16_t *) d->q[qi].used & 1))
        vg_kick(d, qi);
}

static long bench_tx(struct vg_dev *d, uint64_t frame, uint64_t qd)
{
    uint8_t *bufs = alloc_pages(qd);
    for (uint64_t i = 0; i < qd; i++) {
        uint8_t *b = bufs + 4096 * i;
        memset(b, 0, NET_HDR);
        uint8_t *f = b + NET_HDR;
        memset(f, 0xff, 6);
        static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0xbe, 0x27, 0x02 };
        memcpy(f + 6, src, 6);
        f[12] = 0x88, f[13] = 0xb5;
        for (uint64_t k = 14; k < frame; k++)
            f[k] = (uint8_t) k;
    }
    int buf_of[VG_QUEUE_SIZE];
    int free_bufs[VG_QUEUE_SIZE], n_free = (int) qd;
    for (int i = 0; i < (int) qd; i++)
        free_bufs[i] = i;
    printk("net-bench: tx frame %lu qd %lu\n", (unsigned long) frame, (unsigned long) qd);
    for (;;) {
        int added = 0;
        while (n_free > 0) {
            int s = free_bufs[--n_free];
            struct vg_buf out = { bufs + 4096 * s, (uint32_t) (NET_HDR + frame) };
            int head = vg_add(d, 1, &out, 1, NULL, 0);
            if (head < 0) {
                n_free++;
                break;
            }
            buf_of[head] = s;
            added++;
        }
        if (added)
            kick_if_wanted(d, 1);
        uint32_t len;
        int head;
        while ((head = vg_get(d, 1, &len)) < 0)
            __asm__ volatile("pause");
        do
            free_bufs[n_free++] = buf_of[head];
        while ((head = vg_get(d, 1, &len)) >= 0);
    }
    return 0;
}

static long bench_rx(struct vg_dev *d, uint64_t qd, uint64_t mark)
{
    uint8_t *mem = alloc_pages(qd * RX_BUF / 4096 + 1);
    uint8_t *buf_of[VG_QUEUE_SIZE];
    for (uint64_t i = 0; i < qd; i++) {
        struct vg_buf in = { mem + RX_BUF * i, RX_BUF };
        int h = vg_add(d, 0, NULL, 0, &in, 1);
        if (h < 0)
            return -1;
        buf_of[h] = mem + RX_BUF * i;
    }
    vg_kick(d, 0);
    /* The progress frame: 12-byte header + 60 bytes, broadcast, ethertype 0x88b6. */
    uint8_t *tick = alloc_pages(1);
    memset(tick + NET_HDR, 0xff, 6);
    tick[NET_HDR + 12] = 0x88, tick[NET_HDR + 13] = 0xb6;
    printk("net-bench: rx qd %lu\n", (unsigned long) qd);
    uint64_t bytes = 0, next_mark = mark;
    for (;;) {
        uint32_t len;
        int head;
        while ((head = vg_get(d, 0, &len)) < 0)
            __asm__ volatile("pause");
        do {
            uint8_t *b = buf_of[head];
            if (len > NET_HDR)
                bytes += len - NET_HDR;
            struct vg_buf in = { b, RX_BUF };
            int h = vg_add(d, 0, NULL, 0, &in, 1);
            if (h >= 0)
                buf_of[h] = b;
        } while ((head = vg_get(d, 0, &len)) >= 0);
        kick_if_wanted(d, 0);
        if (bytes >= next_mark) {
            while (vg_get(d, 1, &len) >= 0)
                ;
            struct vg_buf out = { tick, NET_HDR + 60 };
            if (vg_add(d, 1, &out, 1, NULL, 0) >= 0)
                kick_if_wanted(d, 1);
            next_mark += mark;
        }
    }
    return 0;
}

static long run(long unused)
{
    (void) unused;
    struct vg_dev d;
    if (vg_find(&d, VG_ID_NET, 0) < 0 || vg_init(&d, 0, 2) < 0) {
        printk("net-bench: FAIL no virtio-net device\n");
        return 1;
    }
    uint64_t qd = num("qd", 32), frame = num("frame", 1514);
    if (qd < 1 || qd > VG_QUEUE_SIZE || frame < 60 || frame > 4096 - NET_HDR) {
        printk("net-bench: FAIL qd must be 1-%d and frame 60-%d\n", VG_QUEUE_SIZE, 4096 - NET_HDR);
        return 1;
    }
    if (num("net_tx", 0))
        return bench_tx(&d, frame, qd);
    if (num("net_rx", 0))
        return bench_rx(&d, qd, (num("mark", 1) ?: 1) << 20);
    printk("net-bench: FAIL give net_tx=1 or net_rx=1\n");
    return 1;
}

void guest_main(void)
{
    long r = user_call(run, 0);
    debug_exit((uint32_t) r);
}
