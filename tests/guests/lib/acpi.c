/* ACPI discovery from inside the guest, the way a small OS would: the RSDP (from PVH start info
 * or by scanning the BIOS area), the XSDT, and a scan of the DSDT's AML for devices with a _HID
 * and their _CRS resources. Run it from ring 3 if it is long: it is pure loads. */
#include "guest.h"

struct sdt {
    char sig[4];
    uint32_t len;
    uint8_t rev, sum;
    char oem[6], table[8];
    uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | ((uint64_t) rd32(p + 4) << 32);
}

uint64_t acpi_find_rsdp(void)
{
    if (guest_boot.rsdp)
        return guest_boot.rsdp;
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
        if (!memcmp((const void *) (uintptr_t) a, "RSD PTR ", 8))
            return a;
    return 0;
}

static int checksum_ok(const uint8_t *p, uint32_t n)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s = (uint8_t) (s + p[i]);
    return s == 0;
}

static const uint8_t *xsdt(void)
{
    uint64_t rsdp = acpi_find_rsdp();
    if (!rsdp)
        return 0;
    const uint8_t *r = (const uint8_t *) (uintptr_t) rsdp;
    if (!checksum_ok(r, 20) || r[15] < 2 || !checksum_ok(r, 36))
        return 0;
    const uint8_t *x = (const uint8_t *) (uintptr_t) rd64(r + 24);
    if (memcmp(x, "XSDT", 4) || !checksum_ok(x, rd32(x + 4)))
        return 0;
    return x;
}

int acpi_list_tables(char (*sigs)[5], int max)
{
    const uint8_t *x = xsdt();
    if (!x)
        return -1;
    int n = (int) ((rd32(x + 4) - 36) / 8);
    for (int i = 0; i < n && i < max; i++) {
        const uint8_t *t = (const uint8_t *) (uintptr_t) rd64(x + 36 + 8 * i);
        memcpy(sigs[i], t, 4);
        sigs[i][4] = 0;
    }
    return n;
}

uint64_t acpi_find_table(const char *sig)
{
    const uint8_t *x = xsdt();
    if (!x)
        return 0;
    int n = (int) ((rd32(x + 4) - 36) / 8);
    for (int i = 0; i < n; i++) {
        const uint8_t *t = (const uint8_t *) (uintptr_t) rd64(x + 36 + 8 * i);
        if (!memcmp(t, sig, 4) && checksum_ok(t, rd32(t + 4)))
            return (uint64_t) (uintptr_t) t;
        if (!memcmp(sig, "DSDT", 4) && !memcmp(t, "FACP", 4)) {
            uint64_t d = rd32(t + 4) >= 148 ? rd64(t + 140) : rd32(t + 40);
            if (d && checksum_ok((const uint8_t *) (uintptr_t) d, rd32((const uint8_t *) (uintptr_t) d + 4)))
                return d;
        }
    }
    return 0;
}

static void eisa_to_str(uint32_t v, char *out)
{
    v = __builtin_bswap32(v);
    out[0] = (char) ('@' + ((v >> 26) & 0x1f));
    out[1] = (char) ('@' + ((v >> 21) & 0x1f));
    out[2] = (char) ('@' + ((v >> 16) & 0x1f));
    for (int i = 0; i < 4; i++)
        out[3 + i] = "0123456789ABCDEF"[(v >> (12 - 4 * i)) & 0xf];
    out[7] = 0;
}

/* Reads the resource template after a "_CRS" Name at p (BufferOp, PkgLength, size, data). */
static void parse_crs(const uint8_t *p, const uint8_t *end, struct acpi_device *d)
{
    if (p >= end || *p != 0x11)
        return;
    p++;
    int extra = *p >> 6;
    p += 1 + extra;
    if (*p == 0x0a)
        p += 2;
    else if (*p == 0x0b)
        p += 3;
    else
        p += 1;
    while (p < end && *p != 0x79) {
        if (*p & 0x80) {
            uint16_t len = (uint16_t) (p[1] | (p[2] << 8));
            if (*p == 0x86)
                d->mmio_base = rd32(p + 4), d->mmio_size = rd32(p + 8);
            else if (*p == 0x89)
                d->irq = rd32(p + 5);
            p += 3 + len;
        } else {
            uint8_t len = *p & 7;
            if ((*p >> 3) == 0x08) /* IO */
                d->io_base = (uint16_t) (p[2] | (p[3] << 8));
            else if ((*p >> 3) == 0x04) { /* IRQ */
                uint16_t mask = (uint16_t) (p[1] | (p[2] << 8));
                for (int i = 0; i < 16; i++)
                    if (mask & (1u << i))
                        d->irq = (uint32_t) i;
            }
            p += 1 + len;
        }
    }
}

int acpi_find_devices(struct acpi_device *out, int max)
{
    const uint8_t *dsdt = (const uint8_t *) (uintptr_t) acpi_find_table("DSDT");
    if (!dsdt)
        return -1;
    const uint8_t *end = dsdt + rd32(dsdt + 4);
    int n = -1;
    /* Each Name(_HID, ...) starts a device; the next Name(_CRS, ...) belongs to it. */
    for (const uint8_t *p = dsdt + 36; p + 5 < end; p++) {
        if (p[0] != 0x08)
            continue;
        if (!memcmp(p + 1, "_HID", 4)) {
            if (n + 1 >= max)
                break;
            struct acpi_device *d = &out[++n];
            memset(d, 0, sizeof(*d));
            const uint8_t *v = p + 5;
            if (*v == 0x0d) {
                int i = 0;
                for (v++; *v && i < 8; v++)
                    d->hid[i++] = (char) *v;
                d->hid[i] = 0;
            } else if (*v == 0x0c) {
                eisa_to_str(rd32(v + 1), d->hid);
            }
        } else if (!memcmp(p + 1, "_CRS", 4) && n >= 0) {
            parse_crs(p + 5, end, &out[n]);
        }
    }
    return n + 1;
}
