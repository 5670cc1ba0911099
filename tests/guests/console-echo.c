/* console-echo: proves console input reaches the guest. Prints "console-echo: ready" on COM1,
 * then, from ring 3, reads lines from the UART and from virtio-console (when the VMM offers one)
 * and answers each line on the device it came from: "uart echo: LINE" / "hvc echo: LINE".
 * A line "exit N" ends the VM through the debug-exit port with status N (berth-vmm: 2N+1). */
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

static long run(long unused)
{
    (void) unused;
    static struct vg_dev vc;
    int have_vc = vg_find(&vc, VG_ID_CONSOLE, 0) == 0 && vg_init(&vc, 0, 2) == 0 && vg_console_start(&vc) == 0;
    printk("console-echo: ready (virtio-console %s)\n", have_vc ? "found" : "absent");
    struct line ul = { 0 }, vl = { 0 };
    char *in = alloc_pages(1), *out = alloc_pages(1);
    for (;;) {
        /* Port I/O traps from ring 3 (slow here): poll the UART less often than the ring. */
        for (int k = 0; k < 4 && (inb(LSR) & 1); k++) {
            if (line_add(&ul, (char) inb(RBR))) {
                printk("uart echo: %s\n", ul.buf);
                maybe_exit(ul.buf);
                ul.len = 0;
            }
        }
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
            maybe_exit(vl.buf);
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
