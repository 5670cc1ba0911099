/* blk-stress: writes a known pattern to the first virtio-blk disk in batches, flushing after
 * each, forever (or batches=M), for the fault test that kills the VMM mid-write
 * (tests/e2e/test_vmm_disk.py). Command line:
 *   start=G    first batch number (default 1); batches are numbered G, G+1, ...
 *   batches=M  stop after M batches (0 or absent: until killed)
 *   span=S     the region written: 4 KiB blocks [0, S) (default: the whole disk)
 *   reqs=N     write requests per batch (default 32), each 1-4 consecutive blocks, up to qd=Q
 *              (default 8) in flight
 *   discard=1  after its writes, each batch also discards one 64 KiB-aligned run of 16 blocks:
 *              c = mix(g << 16 | 0xffff) % (S / 16), blocks [16c, 16c+16), which then read as zeroes
 *              (qcow2 frees the cluster: the refcount drops only once the L2 table is durable)
 * Batch g's request i writes blocks [b, b+k) with h = mix(g << 16 | i), b = h % (S - 3),
 * k = 1 + (h >> 32) % 4. Every block written in batch g holds 512 little-endian words:
 * "BERTHBLK", g, b, then (g*K1 ^ b*K2 ^ j*K3) for word j: self-describing, so the checker can
 * tell which batch each block of the image comes from. After each batch's FLUSH completes the
 * guest prints "blk-stress: flushed g": from then on the batch must survive a VMM crash. */
#include "lib/guest.h"
#include "lib/virtio.h"

#define BLOCK 4096u
#define MAX_QD 16
#define MAGIC 0x4b4c424854524542ull /* "BERTHBLK" */
#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full
#define K3 0x165667b19e3779f9ull
#define SPINS 4000000000ull

static uint64_t num(const char *key, uint64_t def)
{
    char buf[24];
    return cmdline_get(key, buf, sizeof(buf)) ? parse_u64(buf) : def;
}

static uint64_t mix(uint64_t x)
{
    x += K1;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill(uint64_t *w, uint64_t g, uint64_t b)
{
    w[0] = MAGIC;
    w[1] = g;
    w[2] = b;
    uint64_t base = g * K1 ^ b * K2;
    for (uint64_t j = 3; j < BLOCK / 8; j++)
        w[j] = base ^ j * K3;
}

struct slot {
    uint8_t hdr[16];
    uint8_t status;
    uint8_t *data; /* 4 blocks */
};

static int submit(struct vg_dev *d, struct slot *s, uint32_t type, uint64_t sector, uint32_t len)
{
    for (int i = 0; i < 16; i++)
        s->hdr[i] = 0;
    s->hdr[0] = (uint8_t) type;
    for (int i = 0; i < 8; i++)
        s->hdr[8 + i] = (uint8_t) (sector >> (8 * i));
    s->status = 0xff;
    struct vg_buf out[2] = { { s->hdr, 16 }, { s->data, len } };
    struct vg_buf in = { &s->status, 1 };
    return vg_add(d, 0, out, len ? 2 : 1, &in, 1);
}

static long run(long unused)
{
    (void) unused;
    struct vg_dev d;
    if (vg_find(&d, VG_ID_BLK, 0) < 0 || vg_init(&d, num("discard", 0) ? 1ull << 13 /* DISCARD */ : 0, 1) < 0)
        return 1;
    uint64_t blocks = vg_blk_capacity(&d) / (BLOCK / 512);
    uint64_t span = num("span", blocks), start = num("start", 1), batches = num("batches", 0);
    uint64_t reqs = num("reqs", 32), qd = num("qd", 8), discard = num("discard", 0);
    if (span > blocks || span < 8 || reqs == 0 || qd == 0 || qd > MAX_QD) {
        printk("blk-stress: bad parameters (disk has %lu blocks)\n", (unsigned long) blocks);
        return 1;
    }
    static struct slot slots[MAX_QD];
    int slot_of[VG_QUEUE_SIZE];
    int free_slots[MAX_QD], n_free = 0;
    uint8_t *pages = alloc_pages(4 * MAX_QD);
    for (int i = 0; i < (int) qd; i++) {
        slots[i].data = pages + (uint64_t) i * 4 * BLOCK;
        free_slots[n_free++] = i;
    }
    printk("blk-stress: %lu blocks, span %lu, %lu requests per batch\n", (unsigned long) blocks,
           (unsigned long) span, (unsigned long) reqs);
    for (uint64_t g = start; !batches || g < start + batches; g++) {
        uint64_t issued = 0, done = 0;
        while (done < reqs) {
            while (issued < reqs && n_free > 0) {
                int si = free_slots[--n_free];
                struct slot *s = &slots[si];
                uint64_t h = mix(g << 16 | issued);
                uint64_t b = h % (span - 3), k = 1 + (h >> 32) % 4;
                for (uint64_t j = 0; j < k; j++)
                    fill((uint64_t *) (s->data + j * BLOCK), g, b + j);
                int head = submit(&d, s, 1, b * (BLOCK / 512), (uint32_t) (k * BLOCK));
                if (head < 0) {
                    printk("blk-stress: FAIL queue full\n");
                    return 1;
                }
                slot_of[head] = si;
                issued++;
            }
            vg_kick(&d, 0);
            uint32_t len;
            int head = vg_wait(&d, 0, &len, SPINS);
            if (head < 0) {
                printk("blk-stress: FAIL request lost\n");
                return 1;
            }
            do {
                int si = slot_of[head];
                if (slots[si].status != 0) {
                    printk("blk-stress: FAIL write status %u in batch %lu\n", slots[si].status, (unsigned long) g);
                    return 1;
                }
                free_slots[n_free++] = si;
                done++;
            } while ((head = vg_get(&d, 0, &len)) >= 0);
        }
        struct slot *s = &slots[free_slots[n_free - 1]];
        if (discard) {
            uint64_t c = mix(g << 16 | 0xffff) % (span / 16);
            uint8_t *seg = s->data;
            for (int i = 0; i < 16; i++)
                seg[i] = 0;
            for (int i = 0; i < 8; i++)
                seg[i] = (uint8_t) ((c * 16 * (BLOCK / 512)) >> (8 * i));
            uint32_t n_sectors = 16 * (BLOCK / 512);
            for (int i = 0; i < 4; i++)
                seg[8 + i] = (uint8_t) (n_sectors >> (8 * i));
            if (submit(&d, s, 11, 0, 16) < 0) {
                printk("blk-stress: FAIL queue full\n");
                return 1;
            }
            vg_kick(&d, 0);
            uint32_t len;
            if (vg_wait(&d, 0, &len, SPINS) < 0 || s->status != 0) {
                printk("blk-stress: FAIL discard in batch %lu\n", (unsigned long) g);
                return 1;
            }
        }
        /* Every write (and discard) of the batch has completed: the flush covers all of them. */
        if (submit(&d, s, 4, 0, 0) < 0) {
            printk("blk-stress: FAIL queue full\n");
            return 1;
        }
        vg_kick(&d, 0);
        uint32_t len;
        if (vg_wait(&d, 0, &len, SPINS) < 0 || s->status != 0) {
            printk("blk-stress: FAIL flush of batch %lu\n", (unsigned long) g);
            return 1;
        }
        printk("blk-stress: flushed %lu\n", (unsigned long) g);
    }
    return 0;
}

void guest_main(void)
{
    long failed = user_call(run, 0);
    printk("blk-stress: %s\n", failed ? "failed" : "done");
    debug_exit((uint32_t) failed);
}
