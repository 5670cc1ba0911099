#include "guest.h"

#include <stdarg.h>

struct guest_boot guest_boot;

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static uint8_t tss[104] __attribute__((aligned(16)));
static uint8_t exception_stack[8192] __attribute__((aligned(16)));
extern uint64_t gdt[];
#define ISR(n) extern void isr##n(void);
ISR(0) ISR(1) ISR(2) ISR(3) ISR(4) ISR(5) ISR(6) ISR(7) ISR(8) ISR(9) ISR(10) ISR(11) ISR(12) ISR(13) ISR(14)
ISR(15) ISR(16) ISR(17) ISR(18) ISR(19)
static void (*const isrs[20])(void) = { isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7,  isr8,  isr9,
                                         isr10, isr11, isr12, isr13, isr14, isr15, isr16, isr17, isr18, isr19 };

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t) c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}
size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void putc_serial(char c)
{
    outb(0x3f8, (uint8_t) c);
}
void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}
void print_hex(uint64_t v)
{
    char b[17];
    int i = 16;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    puts_serial(b + i);
}
void print_dec(uint64_t v)
{
    char b[21];
    int i = 20;
    b[i] = 0;
    do {
        b[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    puts_serial(b + i);
}

void printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            putc_serial(*p);
            continue;
        }
        p++;
        int longs = 0;
        while (*p == 'l') {
            longs++;
            p++;
        }
        switch (*p) {
        case 's':
            puts_serial(va_arg(ap, const char *));
            break;
        case 'c':
            putc_serial((char) va_arg(ap, int));
            break;
        case 'd': {
            long v = longs ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0) {
                putc_serial('-');
                v = -v;
            }
            print_dec((uint64_t) v);
            break;
        }
        case 'u':
            print_dec(longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
            break;
        case 'x':
            print_hex(longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
            break;
        case '%':
            putc_serial('%');
            break;
        default:
            break;
        }
    }
    va_end(ap);
}

void debug_exit(uint32_t code)
{
    outl(0xf4, code);
    for (;;)
        __asm__ volatile("hlt");
}

const char *cmdline_get(const char *key, char *buf, size_t size)
{
    const char *c = guest_boot.cmdline;
    size_t klen = strlen(key);
    while (c && *c) {
        while (*c == ' ')
            c++;
        if (!memcmp(c, key, klen) && c[klen] == '=') {
            c += klen + 1;
            size_t n = 0;
            while (c[n] && c[n] != ' ' && n + 1 < size) {
                buf[n] = c[n];
                n++;
            }
            buf[n] = 0;
            return buf;
        }
        while (*c && *c != ' ')
            c++;
    }
    return 0;
}

uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    if (s[0] == '0' && s[1] == 'x') {
        for (s += 2; *s; s++)
            v = v * 16 + (uint64_t) (*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
        return v;
    }
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t) (*s - '0');
    return v;
}

extern char __bss_end[];
static uint64_t next_page;

void *alloc_pages(size_t n)
{
    if (!next_page)
        next_page = ((uint64_t) (uintptr_t) __bss_end + 4095) & ~4095ULL;
    uint64_t p = next_page;
    if (p + n * 4096 > guest_boot.mem_top) {
        puts_serial("alloc_pages: out of memory\n");
        debug_exit(0x7d);
    }
    next_page += n * 4096;
    memset((void *) (uintptr_t) p, 0, n * 4096);
    return (void *) (uintptr_t) p;
}

static void set_gate(int n, void (*fn)(void), uint8_t type)
{
    uint64_t a = (uint64_t) (uintptr_t) fn;
    idt[n] = (struct idt_entry){ (uint16_t) a, 0x08, 0, type, (uint16_t) (a >> 16), (uint32_t) (a >> 32), 0 };
}

void guest_exception(uint64_t *frame);
void guest_exception(uint64_t *frame)
{
    printk("guest exception %lu error 0x%lx at rip 0x%lx cs 0x%lx\n", frame[0], frame[1], frame[2], frame[3]);
    debug_exit(0x7e);
}

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};
struct pvh_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist, cmdline, rsdp, memmap;
    uint32_t memmap_entries, reserved;
};
struct pvh_memmap {
    uint64_t addr, size;
    uint32_t type, reserved;
};

void guest_entry(uint32_t magic, uint32_t info);
void guest_entry(uint32_t magic, uint32_t info)
{
    /* TSS: ring-0 stack for interrupts from ring 3; no I/O bitmap (IOPL 3 grants ports). */
    uint64_t rsp0 = (uint64_t) (uintptr_t) (exception_stack + sizeof(exception_stack));
    memcpy(tss + 4, &rsp0, 8);
    tss[102] = sizeof(tss);
    uint64_t base = (uint64_t) (uintptr_t) tss;
    gdt[6] = (sizeof(tss) - 1) | ((base & 0xffffff) << 16) | (0x89ULL << 40) | (((base >> 24) & 0xff) << 56);
    gdt[7] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(0x30));
    for (int i = 0; i < 20; i++)
        set_gate(i, isrs[i], 0x8e);
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t) (uintptr_t) idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));

    guest_boot.mem_top = 0x100000 + 32ULL * 1024 * 1024;
    /* PVH first: QEMU's PVH option ROM leaves the multiboot magic in %eax. */
    struct pvh_info *pvh = (struct pvh_info *) (uintptr_t) info;
    if (pvh->magic == 0x336ec578) {
        guest_boot.protocol = 1;
        guest_boot.cmdline = (const char *) (uintptr_t) pvh->cmdline;
        guest_boot.rsdp = pvh->rsdp;
        struct pvh_memmap *m = (struct pvh_memmap *) (uintptr_t) pvh->memmap;
        for (uint32_t i = 0; pvh->version >= 1 && i < pvh->memmap_entries; i++)
            if (m[i].type == 1 && m[i].addr + m[i].size <= 0x100000000ULL && m[i].addr + m[i].size > 0x100000)
                guest_boot.mem_top = m[i].addr + m[i].size;
    } else if (magic == 0x2badb002) {
        struct mb_info *mb = (struct mb_info *) (uintptr_t) info;
        guest_boot.protocol = 2;
        guest_boot.cmdline = (mb->flags & 4) ? (const char *) (uintptr_t) mb->cmdline : "";
        if (mb->flags & 1)
            guest_boot.mem_top = 0x100000 + (uint64_t) mb->mem_upper * 1024;
    }
    if (!guest_boot.cmdline)
        guest_boot.cmdline = "";
    guest_main();
    debug_exit(0);
}
