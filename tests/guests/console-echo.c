/* console-echo: proves console input reaches the guest. Prints "console-echo: ready" on COM1,
 * then, from ring 3, reads lines from the UART and from virtio-console (when the VMM offers one)
 * and answers each line on the device it came from: "uart echo: LINE" / "hvc echo: LINE".
 * A line "exit N" ends the VM through the debug-exit port with status N (berth-vmm: 2N+1).
 * With a virtio-balloon it is also a balloon driver: it reports statistics once, then follows
 * the host's target (num_pages) by inflating/deflating and updating "actual", printing
 * "balloon: N pages". A line "balloon hold" makes it stop following (a guest that ignores the
 * host: what berth vm balloon --wait reports), "balloon follow" makes it follow again. */
#include "lib/guest.h"
#include "lib/virtio.h"

#define LSR 0x3fd
#define RBR 0x3f8

struct line {
    char buf[128];
    unsigned len;
};

/* Adds one byte; returns 1 when a line is complete (in l->buf, NUL-terminated). */
static int line_add(struct line *l, char c)
{
    if (c == '\r' || c == '\n') {
        if (!l->len)
            return 0;
        l->buf[l->len] = '\0';
        return 1;
    }
    if (l->len + 1 < sizeof(l->buf))
        l->buf[l->len++] = c;
    return 0;
}

static void maybe_exit(const char *s)
{
    if (s[0] == 'e' && s[1] == 'x' && s[2] == 'i' && s[3] == 't' && s[4] == ' ')
        debug_exit((uint32_t) parse_u64(s + 5));
}

static int balloon_held;

static int line_is(const char *s, const char *word)
{
    while (*word && *s == *word)
        s++, word++;
    return !*word && !*s;
}

/* Console commands besides "exit N". */
static void maybe_command(const char *s)
{
    maybe_exit(s);
    if (line_is(s, "balloon hold"))
        balloon_held = 1;
    else if (line_is(s, "balloon follow"))
        balloon_held = 0;
}

/* ---- balloon (spec 5.5) ---- */
#define VG_ID_BALLOON 5
#define BALLOON_F_STATS_VQ (1ull << 1)
#define BALLOON_MAX_PAGES 16384 /* 64 MiB: what the tests give */
#define PFNS_PER_REQ 256

static struct vg_dev bd;
static int have_balloon;
static uint32_t *pfn_buf;
static uint8_t *held[BALLOON_MAX_PAGES];
static uint32_t n_held;
static uint8_t *spare[BALLOON_MAX_PAGES]; /* deflated pages, reused before allocating more */
static uint32_t n_spare;

static void balloon_start(void)
{
    if (vg_find(&bd, VG_ID_BALLOON, 0) < 0 || vg_init(&bd, BALLOON_F_STATS_VQ, 3) < 0)
        return;
    have_balloon = 1;
    pfn_buf = alloc_pages(1);
    if (bd.features & BALLOON_F_STATS_VQ) {
        /* Two statistics: total memory and free memory (what is not ballooned), in bytes. */
        uint8_t *st = alloc_pages(1);
        uint64_t total = guest_boot.mem_top;
        uint16_t tags[2] = { 5, 4 };
        uint64_t vals[2] = { total, total / 2 };
        for (int i = 0; i < 2; i++) {
            st[10 * i] = (uint8_t) tags[i];
            st[10 * i + 1] = 0;
            for (int b = 0; b < 8; b++)
                st[10 * i + 2 + b] = (uint8_t) (vals[i] >> (8 * b));
        }
        struct vg_buf out = { st, 20 };
        if (vg_add(&bd, 2, &out, 1, NULL, 0) >= 0)
            vg_kick(&bd, 2);
    }
}

/* One request of up to PFNS_PER_REQ pages on the inflate (0) or deflate (1) queue. */
static void balloon_step(void)
{
    uint32_t target;
    vg_config_read(&bd, 0, &target, 4);
    if (target > BALLOON_MAX_PAGES)
        target = BALLOON_MAX_PAGES;
    if (target == n_held)
        return;
    unsigned qi = target > n_held ? 0 : 1;
    uint32_t n = qi == 0 ? target - n_held : n_held - target;
    if (n > PFNS_PER_REQ)
        n = PFNS_PER_REQ;
    for (uint32_t i = 0; i < n; i++) {
        if (qi == 0) {
            uint8_t *pg = n_spare ? spare[--n_spare] : alloc_pages(1);
            held[n_held + i] = pg;
            pfn_buf[i] = (uint32_t) ((uintptr_t) pg >> 12);
        } else {
            uint8_t *pg = held[n_held - 1 - i];
            spare[n_spare++] = pg;
            pfn_buf[i] = (uint32_t) ((uintptr_t) pg >> 12);
        }
    }
    struct vg_buf out = { pfn_buf, 4 * n };
    uint32_t len;
    if (vg_add(&bd, qi, &out, 1, NULL, 0) < 0)
        return;
    vg_kick(&bd, qi);
    if (vg_wait(&bd, qi, &len, 100000000) < 0)
        return;
    n_held = qi == 0 ? n_held + n : n_held - n;
    /* "actual" (config offset 4) tells the host what the balloon holds now. */
    mmio_write32(bd.base + 0x100 + 4, n_held);
    if (n_held == target)
        printk("balloon: %u pages\n", n_held);
}

static long run(long unused)
{
    (void) unused;
    balloon_start();
    static struct vg_dev vc;
    int have_vc = vg_find(&vc, VG_ID_CONSOLE, 0) == 0 && vg_init(&vc, 0, 2) == 0 && vg_console_start(&vc) == 0;
    printk("console-echo: ready (virtio-console %s%s)\n", have_vc ? "found" : "absent",
           have_balloon ? ", balloon found" : "");
    struct line ul = { 0 }, vl = { 0 };
    char *in = alloc_pages(1), *out = alloc_pages(1);
    for (;;) {
        /* Port I/O traps from ring 3 (slow here): poll the UART less often than the ring. */
        for (int k = 0; k < 4 && (inb(LSR) & 1); k++) {
            if (line_add(&ul, (char) inb(RBR))) {
                printk("uart echo: %s\n", ul.buf);
                maybe_command(ul.buf);
                ul.len = 0;
            }
        }
        if (have_balloon && !balloon_held)
            balloon_step();
        if (!have_vc)
            continue;
        int n = vg_console_read(&vc, in, 4096, 200000);
        for (int i = 0; i < n; i++) {
            if (!line_add(&vl, in[i]))
                continue;
            unsigned len = 0;
            static const char prefix[] = "hvc echo: ";
            memcpy(out, prefix, sizeof(prefix) - 1);
            len = sizeof(prefix) - 1;
            memcpy(out + len, vl.buf, vl.len);
            len += vl.len;
            out[len++] = '\n';
            vg_console_write(&vc, out, len);
            maybe_command(vl.buf);
            vl.len = 0;
        }
    }
    return 0;
}

void guest_main(void)
{
    user_call(run, 0);
    debug_exit(0);
}
