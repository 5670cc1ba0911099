/* Guest-side virtio-mmio driver for the test guests (see virtio.h). Written from the virtio 1.2
 * spec, driver side: the status sequence of 3.1.1, split rings of 2.7, device formats of 5.x. */
#include "virtio.h"

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080
#define R_QUEUE_DRIVER 0x090
#define R_QUEUE_DEVICE 0x0a0
#define R_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define F_NEXT 1
#define F_WRITE 2

#define FEATURE_VERSION_1 (1ull << 32)

static uint16_t rd16(const void *p)
{
    return *(const volatile uint16_t *) p;
}

static uint32_t rd32(const void *p)
{
    return *(const volatile uint32_t *) p;
}

static void wr16(void *p, uint16_t v)
{
    *(volatile uint16_t *) p = v;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t) get32(p) | (uint64_t) get32(p + 4) << 32;
}

static void reg_w(struct vg_dev *d, uint32_t off, uint32_t v)
{
    vg_mmio_write32(d->base + off, v);
}

static uint32_t reg_r(struct vg_dev *d, uint32_t off)
{
    return vg_mmio_read32(d->base + off);
}

int vg_probe(struct vg_dev *d, uint64_t base)
{
    memset(d, 0, sizeof(*d));
    d->base = base;
    if (reg_r(d, R_MAGIC) != 0x74726976 || reg_r(d, R_VERSION) != 2)
        return -1;
    d->device_id = reg_r(d, R_DEVICE_ID);
    return d->device_id ? 0 : -1;
}

#ifndef VG_HOST
int vg_find(struct vg_dev *d, uint32_t device_id, int index)
{
    struct acpi_device devs[32];
    int n = acpi_find_devices(devs, 32);
    for (int i = 0; i < n; i++) {
        if (memcmp(devs[i].hid, "LNRO0005", 9) != 0 || !devs[i].mmio_base)
            continue;
        if (vg_probe(d, devs[i].mmio_base) == 0 && d->device_id == device_id && index-- == 0)
            return 0;
    }
    return -1;
}
#endif

uint32_t vg_status(struct vg_dev *d)
{
    return reg_r(d, R_STATUS);
}

static int setup_queue(struct vg_dev *d, unsigned qi)
{
    struct vg_queue *q = &d->q[qi];
    reg_w(d, R_QUEUE_SEL, qi);
    if (reg_r(d, R_QUEUE_READY) != 0)
        return -1;
    uint32_t max = reg_r(d, R_QUEUE_NUM_MAX);
    if (max == 0)
        return -1;
    q->size = max < VG_QUEUE_SIZE ? (uint16_t) max : VG_QUEUE_SIZE;
    /* Page 0: descriptors then the available ring; page 1: the used ring. */
    uint8_t *mem = vg_alloc_pages(2);
    q->desc = mem;
    q->avail = (uint16_t *) (mem + 16u * q->size);
    q->used = mem + 4096;
    for (uint16_t i = 0; i < q->size; i++)
        put16(q->desc + 16u * i + 14, (uint16_t) (i + 1));
    q->free_head = 0;
    q->num_free = q->size;
    q->avail_idx = q->last_used = 0;
    reg_w(d, R_QUEUE_NUM, q->size);
    uint64_t a = vg_phys(q->desc), b = vg_phys(q->avail), c = vg_phys(q->used);
    reg_w(d, R_QUEUE_DESC, (uint32_t) a);
    reg_w(d, R_QUEUE_DESC + 4, (uint32_t) (a >> 32));
    reg_w(d, R_QUEUE_DRIVER, (uint32_t) b);
    reg_w(d, R_QUEUE_DRIVER + 4, (uint32_t) (b >> 32));
    reg_w(d, R_QUEUE_DEVICE, (uint32_t) c);
    reg_w(d, R_QUEUE_DEVICE + 4, (uint32_t) (c >> 32));
    reg_w(d, R_QUEUE_READY, 1);
    return 0;
}

int vg_init(struct vg_dev *d, uint64_t want, unsigned n_queues)
{
    if (n_queues > VG_MAX_QUEUES)
        return -2;
    reg_w(d, R_STATUS, 0);
    reg_w(d, R_STATUS, S_ACK);
    reg_w(d, R_STATUS, S_ACK | S_DRIVER);
    reg_w(d, R_DEV_FEATURES_SEL, 0);
    uint64_t offered = reg_r(d, R_DEV_FEATURES);
    reg_w(d, R_DEV_FEATURES_SEL, 1);
    offered |= (uint64_t) reg_r(d, R_DEV_FEATURES) << 32;
    d->features = (want | FEATURE_VERSION_1) & offered;
    reg_w(d, R_DRV_FEATURES_SEL, 0);
    reg_w(d, R_DRV_FEATURES, (uint32_t) d->features);
    reg_w(d, R_DRV_FEATURES_SEL, 1);
    reg_w(d, R_DRV_FEATURES, (uint32_t) (d->features >> 32));
    reg_w(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(reg_r(d, R_STATUS) & S_FEATURES_OK) || !(d->features & FEATURE_VERSION_1))
        return -1;
    for (unsigned i = 0; i < n_queues; i++)
        if (setup_queue(d, i) < 0)
            return -2;
    d->n_queues = n_queues;
    reg_w(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return 0;
}

int vg_add(struct vg_dev *d, unsigned qi, const struct vg_buf *out, int n_out, const struct vg_buf *in, int n_in)
{
    struct vg_queue *q = &d->q[qi];
    int n = n_out + n_in;
    if (n <= 0 || n > q->num_free)
        return -1;
    uint16_t head = q->free_head, idx = head;
    for (int i = 0; i < n; i++) {
        const struct vg_buf *b = i < n_out ? &out[i] : &in[i - n_out];
        uint8_t *de = q->desc + 16u * idx;
        put64(de, vg_phys(b->addr));
        put32(de + 8, b->len);
        put16(de + 12, (uint16_t) ((i >= n_out ? F_WRITE : 0) | (i + 1 < n ? F_NEXT : 0)));
        idx = get16(de + 14);
    }
    q->free_head = idx;
    q->num_free = (uint16_t) (q->num_free - n);
    q->avail[2 + q->avail_idx % q->size] = head;
    /* The ring entry must be visible before the index that publishes it. */
    vg_mb();
    q->avail_idx++;
    wr16(&q->avail[1], q->avail_idx);
    vg_mb();
    return head;
}

void vg_kick(struct vg_dev *d, unsigned qi)
{
    reg_w(d, R_QUEUE_NOTIFY, qi);
}

int vg_get(struct vg_dev *d, unsigned qi, uint32_t *len)
{
    struct vg_queue *q = &d->q[qi];
    if (rd16(q->used + 2) == q->last_used)
        return -1;
    vg_mb();
    const uint8_t *e = q->used + 4 + 8u * (q->last_used % q->size);
    uint32_t id = rd32(e);
    if (len)
        *len = rd32(e + 4);
    q->last_used++;
    /* Return the chain's descriptors to the free list. */
    uint16_t idx = (uint16_t) id, n = 1;
    while (get16(q->desc + 16u * idx + 12) & F_NEXT) {
        idx = get16(q->desc + 16u * idx + 14);
        n++;
    }
    put16(q->desc + 16u * idx + 14, q->free_head);
    q->free_head = (uint16_t) id;
    q->num_free = (uint16_t) (q->num_free + n);
    return (int) id;
}

int vg_wait(struct vg_dev *d, unsigned qi, uint32_t *len, uint64_t spins)
{
    for (uint64_t i = 0; i < spins; i++) {
        int h = vg_get(d, qi, len);
        if (h >= 0)
            return h;
        __asm__ volatile("pause");
    }
    return -1;
}

void vg_config_read(struct vg_dev *d, uint32_t off, void *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        ((uint8_t *) buf)[i] = vg_mmio_read8(d->base + R_CONFIG + off + i);
}

/* ---- blk ---- */

static uint8_t *scratch_page(void)
{
    return vg_alloc_pages(1);
}

/* Scratch pages, allocated on first use. */
static uint8_t *blk_hdr, *net_tx, *con_tx;

int vg_blk_request(struct vg_dev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    uint8_t *hdr = blk_hdr;
    if (!hdr)
        hdr = blk_hdr = scratch_page();
    uint8_t *status = hdr + 16;
    put32(hdr, type);
    put32(hdr + 4, 0);
    put64(hdr + 8, sector);
    *status = 0xff;
    struct vg_buf out[2] = { { hdr, 16 }, { buf, len } };
    struct vg_buf in[2] = { { buf, len }, { status, 1 } };
    int r;
    if (type == 1) /* write: data is device-readable */
        r = vg_add(d, 0, out, len ? 2 : 1, in + 1, 1);
    else
        r = vg_add(d, 0, out, 1, len ? in : in + 1, len ? 2 : 1);
    if (r < 0)
        return -1;
    vg_kick(d, 0);
    uint32_t used;
    if (vg_wait(d, 0, &used, 100000000) < 0)
        return -1;
    return *(volatile uint8_t *) status;
}

uint64_t vg_blk_capacity(struct vg_dev *d)
{
    uint8_t c[8];
    vg_config_read(d, 0, c, 8);
    return get64(c);
}

/* ---- rng ---- */

int vg_rng_read(struct vg_dev *d, void *buf, uint32_t len)
{
    struct vg_buf in = { buf, len };
    if (vg_add(d, 0, NULL, 0, &in, 1) < 0)
        return -1;
    vg_kick(d, 0);
    uint32_t used;
    if (vg_wait(d, 0, &used, 100000000) < 0)
        return -1;
    return (int) used;
}

/* ---- receive-side helper shared by net, console and vsock: a queue full of equal buffers ---- */

#define RX_BUF 2048
#define RX_COUNT 16

struct rx_pool {
    struct vg_dev *d;
    unsigned qi;
    uint8_t *buf[VG_QUEUE_SIZE]; /* by head descriptor */
};

static struct rx_pool pools[4];
static int n_pools;

static struct rx_pool *pool_for(struct vg_dev *d, unsigned qi)
{
    for (int i = 0; i < n_pools; i++)
        if (pools[i].d == d && pools[i].qi == qi)
            return &pools[i];
    return NULL;
}

static int pool_start(struct vg_dev *d, unsigned qi)
{
    if (n_pools == 4)
        return -1;
    struct rx_pool *p = &pools[n_pools++];
    p->d = d;
    p->qi = qi;
    uint8_t *mem = vg_alloc_pages(RX_COUNT * RX_BUF / 4096);
    for (int i = 0; i < RX_COUNT; i++) {
        struct vg_buf in = { mem + i * RX_BUF, RX_BUF };
        int h = vg_add(d, qi, NULL, 0, &in, 1);
        if (h < 0)
            return -1;
        p->buf[h] = mem + i * RX_BUF;
    }
    vg_kick(d, qi);
    return 0;
}

/* Next filled buffer: its data and length; pool_repost gives it back afterwards. */
static uint8_t *pool_get(struct vg_dev *d, unsigned qi, uint32_t *len, uint64_t spins, int *ret_head)
{
    struct rx_pool *p = pool_for(d, qi);
    if (!p)
        return NULL;
    int h = vg_wait(d, qi, len, spins);
    if (h < 0)
        return NULL;
    *ret_head = h;
    return p->buf[h];
}

static void pool_repost(struct vg_dev *d, unsigned qi, uint8_t *buf)
{
    struct rx_pool *p = pool_for(d, qi);
    struct vg_buf in = { buf, RX_BUF };
    int h = vg_add(d, qi, NULL, 0, &in, 1);
    if (h >= 0) {
        p->buf[h] = buf;
        vg_kick(d, qi);
    }
}

static int send_and_wait(struct vg_dev *d, unsigned qi, const struct vg_buf *out, int n_out)
{
    if (vg_add(d, qi, out, n_out, NULL, 0) < 0)
        return -1;
    vg_kick(d, qi);
    uint32_t used;
    return vg_wait(d, qi, &used, 100000000) < 0 ? -1 : 0;
}

/* ---- net ---- */

#define NET_HDR 12

int vg_net_start(struct vg_dev *d)
{
    return pool_start(d, 0);
}

int vg_net_send(struct vg_dev *d, const void *frame, uint32_t len)
{
    if (!net_tx)
        net_tx = vg_alloc_pages(1);
    uint8_t *tx = net_tx;
    if (len + NET_HDR > 4096)
        return -1;
    memset(tx, 0, NET_HDR);
    memcpy(tx + NET_HDR, frame, len);
    struct vg_buf out = { tx, NET_HDR + len };
    return send_and_wait(d, 1, &out, 1);
}

int vg_net_recv(struct vg_dev *d, void *buf, uint32_t cap, uint64_t spins)
{
    uint32_t len;
    int h;
    uint8_t *b = pool_get(d, 0, &len, spins, &h);
    if (!b)
        return -1;
    int n = len > NET_HDR ? (int) (len - NET_HDR) : 0;
    if ((uint32_t) n > cap)
        n = (int) cap;
    memcpy(buf, b + NET_HDR, (size_t) n);
    pool_repost(d, 0, b);
    return n;
}

/* ---- console ---- */

int vg_console_start(struct vg_dev *d)
{
    return pool_start(d, 0);
}

int vg_console_write(struct vg_dev *d, const void *buf, uint32_t len)
{
    if (!con_tx)
        con_tx = vg_alloc_pages(1);
    uint8_t *tx = con_tx;
    if (len > 4096)
        len = 4096;
    memcpy(tx, buf, len);
    struct vg_buf out = { tx, len };
    return send_and_wait(d, 1, &out, 1);
}

int vg_console_read(struct vg_dev *d, void *buf, uint32_t cap, uint64_t spins)
{
    uint32_t len;
    int h;
    uint8_t *b = pool_get(d, 0, &len, spins, &h);
    if (!b)
        return -1;
    if (len > cap)
        len = cap;
    memcpy(buf, b, len);
    pool_repost(d, 0, b);
    return (int) len;
}

/* ---- vsock ---- */

#define VS_HDR 44
#define VS_OP_REQUEST 1
#define VS_OP_RESPONSE 2
#define VS_OP_RST 3
#define VS_OP_SHUTDOWN 4
#define VS_OP_RW 5
#define VS_OP_CREDIT_UPDATE 6
#define VS_BUF_ALLOC 65536

static uint8_t *vs_tx;
/* Data of the last RW packet not yet handed to the caller. */
static uint8_t vs_pending[RX_BUF];
static uint32_t vs_pending_len, vs_pending_off;

static int vs_send(struct vg_vsock *s, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
    uint8_t *h = vs_tx;
    memset(h, 0, VS_HDR);
    put64(h + 0, s->cid);
    put64(h + 8, 2);
    put32(h + 16, s->local_port);
    put32(h + 20, s->peer_port);
    put32(h + 24, len);
    put16(h + 28, 1);
    put16(h + 30, op);
    put32(h + 32, flags);
    put32(h + 36, VS_BUF_ALLOC);
    put32(h + 40, s->fwd_cnt);
    if (len)
        memcpy(h + VS_HDR, data, len);
    struct vg_buf out = { h, VS_HDR + len };
    return send_and_wait(s->d, 1, &out, 1);
}

int vg_vsock_start(struct vg_dev *d, struct vg_vsock *s)
{
    memset(s, 0, sizeof(*s));
    s->d = d;
    uint8_t c[8];
    vg_config_read(d, 0, c, 8);
    s->cid = get64(c);
    if (!vs_tx)
        vs_tx = vg_alloc_pages(2);
    if (pool_start(d, 0) < 0)
        return -1;
    /* Event queue: a few buffers for transport-reset events (never expected here). */
    uint8_t *ev = vg_alloc_pages(1);
    for (int i = 0; i < 4; i++) {
        struct vg_buf in = { ev + 8 * i, 8 };
        vg_add(d, 2, NULL, 0, &in, 1);
    }
    vg_kick(d, 2);
    return 0;
}

/* Next packet for us: op, and its payload in vs_pending. -1 when nothing arrived in time. */
static int vs_poll(struct vg_vsock *s, uint64_t spins, uint32_t *ret_port, uint32_t *ret_src_port)
{
    uint32_t len;
    int h;
    uint8_t *b = pool_get(s->d, 0, &len, spins, &h);
    if (!b)
        return -1;
    int op = -1;
    if (len >= VS_HDR) {
        op = get16(b + 30);
        *ret_port = get32(b + 20);
        *ret_src_port = get32(b + 16);
        s->peer_buf_alloc = get32(b + 36);
        s->peer_fwd_cnt = get32(b + 40);
        uint32_t n = get32(b + 24);
        if (op == VS_OP_RW && n <= len - VS_HDR && n <= sizeof(vs_pending)) {
            memcpy(vs_pending, b + VS_HDR, n);
            vs_pending_len = n;
            vs_pending_off = 0;
        }
    }
    pool_repost(s->d, 0, b);
    return op;
}

int vg_vsock_connect(struct vg_vsock *s, uint32_t local_port, uint32_t port, uint64_t spins)
{
    s->local_port = local_port;
    s->peer_port = port;
    s->tx_cnt = s->fwd_cnt = 0;
    s->peer_closed = 0;
    if (vs_send(s, VS_OP_REQUEST, 0, NULL, 0) < 0)
        return -1;
    uint32_t dport, sport;
    int op = vs_poll(s, spins, &dport, &sport);
    if (op != VS_OP_RESPONSE)
        return -1;
    s->connected = 1;
    return 0;
}

int vg_vsock_accept(struct vg_vsock *s, uint32_t port, uint64_t spins)
{
    uint32_t dport, sport;
    int op = vs_poll(s, spins, &dport, &sport);
    if (op != VS_OP_REQUEST || dport != port)
        return -1;
    s->local_port = port;
    s->peer_port = sport;
    s->tx_cnt = s->fwd_cnt = 0;
    s->peer_closed = 0;
    s->connected = 1;
    return vs_send(s, VS_OP_RESPONSE, 0, NULL, 0);
}

int vg_vsock_send(struct vg_vsock *s, const void *buf, uint32_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        uint32_t credit = s->peer_buf_alloc - (s->tx_cnt - s->peer_fwd_cnt);
        uint32_t n = len < 4000 ? len : 4000;
        if (n > credit)
            return -1; /* tests never fill the host's 256 KiB window */
        if (vs_send(s, VS_OP_RW, 0, p, n) < 0)
            return -1;
        s->tx_cnt += n;
        p += n;
        len -= n;
    }
    return 0;
}

int vg_vsock_recv(struct vg_vsock *s, void *buf, uint32_t cap, uint64_t spins)
{
    while (vs_pending_off == vs_pending_len) {
        if (s->peer_closed)
            return 0;
        uint32_t dport, sport;
        int op = vs_poll(s, spins, &dport, &sport);
        if (op < 0)
            return -1;
        if (op == VS_OP_SHUTDOWN || op == VS_OP_RST)
            s->peer_closed = 1;
    }
    uint32_t n = vs_pending_len - vs_pending_off;
    if (n > cap)
        n = cap;
    memcpy(buf, vs_pending + vs_pending_off, n);
    vs_pending_off += n;
    s->fwd_cnt += n;
    return (int) n;
}

void vg_vsock_close(struct vg_vsock *s, uint64_t spins)
{
    if (!s->connected)
        return;
    vs_send(s, VS_OP_SHUTDOWN, 3, NULL, 0);
    /* The host answers a full shutdown with a reset. */
    for (int i = 0; i < 8; i++) {
        uint32_t dport, sport;
        int op = vs_poll(s, spins, &dport, &sport);
        if (op < 0 || op == VS_OP_RST)
            break;
    }
    s->connected = 0;
}

#ifdef VG_HOST
void vg_forget(void)
{
    blk_hdr = net_tx = con_tx = vs_tx = NULL;
    n_pools = 0;
    memset(pools, 0, sizeof(pools));
    vs_pending_len = vs_pending_off = 0;
}
#endif
