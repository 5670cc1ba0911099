#include <errno.h>
#include <string.h>

#include "vmm/acpi/acpi.h"
#include "vmm/devices/legacy.h"

#define ACPI_HEADER_SIZE 36
#define ACPI_FADT_SIZE 276
#define ACPI_FACS_SIZE 64

uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t) (s + p[i]);
    return s;
}

static void put8(uint8_t *p, size_t off, uint8_t v)
{
    p[off] = v;
}
static void put16(uint8_t *p, size_t off, uint16_t v)
{
    memcpy(p + off, &v, 2);
}
static void put32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, 4);
}
static void put64(uint8_t *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, 8);
}

/* The common 36-byte header; the checksum is filled by acpi_finish(). */
static void acpi_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
    memset(p, 0, ACPI_HEADER_SIZE);
    memcpy(p, sig, 4);
    put32(p, 4, len);
    put8(p, 8, rev);
    memcpy(p + 10, "BERTH ", 6);
    memcpy(p + 16, "BERTHVM ", 8);
    put32(p, 24, 1);
    memcpy(p + 28, "BRTH", 4);
    put32(p, 32, 1);
}

static void acpi_finish(uint8_t *p, uint32_t len)
{
    p[9] = 0;
    p[9] = (uint8_t) (0x100 - acpi_checksum(p, len));
}

/* Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *p, size_t off, uint8_t bits, uint8_t access, uint64_t addr)
{
    put8(p, off, 1); /* SystemIO */
    put8(p, off + 1, bits);
    put8(p, off + 2, 0);
    put8(p, off + 3, access);
    put64(p, off + 4, addr);
}

int acpi_build_fadt(uint64_t facs, uint64_t dsdt, uint8_t *p, size_t size)
{
    if (size < ACPI_FADT_SIZE)
        return -ENOSPC;
    memset(p, 0, ACPI_FADT_SIZE);
    acpi_header(p, "FACP", ACPI_FADT_SIZE, 6);
    /* The 64-bit X_ fields carry the addresses; FIRMWARE_CTRL must then be 0 (ACPI 6.4,
     * 5.2.9), and DSDT repeats X_DSDT for 32-bit readers. */
    put32(p, 36, 0);
    put32(p, 40, (uint32_t) dsdt);
    put8(p, 45, 0);                       /* preferred PM profile: unspecified */
    put16(p, 46, ACPI_SCI_IRQ);
    put32(p, 48, 0);                      /* no SMI_CMD: always in ACPI mode */
    put32(p, 56, ACPI_PM1A_EVT_PORT);
    put32(p, 64, ACPI_PM1A_CNT_PORT);
    put8(p, 88, ACPI_PM1A_EVT_LEN);
    put8(p, 89, ACPI_PM1A_CNT_LEN);
    put16(p, 96, 101);                    /* C2 latency > 100: no C2 */
    put16(p, 98, 1001);                   /* C3 latency > 1000: no C3 */
    put8(p, 108, 0x32);                   /* CMOS century register */
    put16(p, 109, (1u << 2) | (1u << 3)); /* IAPC_BOOT_ARCH: VGA not present, MSI not supported */
    /* Flags: WBINVD, C1 on all CPUs, sleep button absent (power button is a fixed feature),
     * RTC wake status not in fixed registers. */
    put32(p, 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 6));
    put8(p, 131, 3);                      /* FADT minor version: 6.3 */
    put64(p, 132, facs);
    put64(p, 140, dsdt);
    gas_io(p, 148, ACPI_PM1A_EVT_LEN * 8, 2, ACPI_PM1A_EVT_PORT);
    gas_io(p, 172, ACPI_PM1A_CNT_LEN * 8, 2, ACPI_PM1A_CNT_PORT);
    memcpy(p + 268, "BERTHVMM", 8);       /* hypervisor vendor identity */
    acpi_finish(p, ACPI_FADT_SIZE);
    return ACPI_FADT_SIZE;
}

static int acpi_build_facs(uint8_t *p, size_t size)
{
    if (size < ACPI_FACS_SIZE)
        return -ENOSPC;
    memset(p, 0, ACPI_FACS_SIZE);
    memcpy(p, "FACS", 4);
    put32(p, 4, ACPI_FACS_SIZE);
    put8(p, 32, 2); /* version */
    return ACPI_FACS_SIZE;
}

int acpi_build_madt(const struct acpi_config *cfg, uint8_t *p, size_t size)
{
    size_t len = ACPI_HEADER_SIZE + 8 + cfg->n_cpus * 8 + 12 + 2 * 10 + 6;
    if (cfg->n_cpus == 0 || cfg->n_cpus > 255)
        return -EINVAL;
    if (size < len)
        return -ENOSPC;
    memset(p, 0, len);
    acpi_header(p, "APIC", (uint32_t) len, 5);
    put32(p, 36, ACPI_LAPIC_ADDR);
    put32(p, 40, 1); /* PCAT_COMPAT: dual 8259s present (the in-kernel PIC) */
    size_t off = 44;
    for (unsigned i = 0; i < cfg->n_cpus; i++, off += 8) {
        put8(p, off, 0); /* Processor Local APIC */
        put8(p, off + 1, 8);
        put8(p, off + 2, (uint8_t) i); /* ACPI processor UID */
        put8(p, off + 3, (uint8_t) i); /* APIC ID */
        put32(p, off + 4, 1);          /* enabled */
    }
    put8(p, off, 1); /* I/O APIC */
    put8(p, off + 1, 12);
    put8(p, off + 2, (uint8_t) cfg->n_cpus); /* IOAPIC ID after the CPUs' */
    put32(p, off + 4, ACPI_IOAPIC_ADDR);
    put32(p, off + 8, 0); /* GSI base */
    off += 12;
    /* ISA IRQ 0 (PIT) arrives on GSI 2; the SCI is level-triggered, active high. */
    put8(p, off, 2);
    put8(p, off + 1, 10);
    put8(p, off + 2, 0);
    put8(p, off + 3, 0);
    put32(p, off + 4, 2);
    put16(p, off + 8, 0);
    off += 10;
    put8(p, off, 2);
    put8(p, off + 1, 10);
    put8(p, off + 2, 0);
    put8(p, off + 3, ACPI_SCI_IRQ);
    put32(p, off + 4, ACPI_SCI_IRQ);
    put16(p, off + 8, 0x000d); /* active high (01), level (11 << 2) */
    off += 10;
    put8(p, off, 4); /* Local APIC NMI on LINT1 of every processor */
    put8(p, off + 1, 6);
    put8(p, off + 2, 0xff);
    put16(p, off + 3, 0);
    put8(p, off + 5, 1);
    off += 6;
    acpi_finish(p, (uint32_t) len);
    return (int) len;
}

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

int acpi_build(const struct acpi_config *cfg, uint64_t base, uint8_t *buf, size_t size, uint64_t *ret_rsdp,
               size_t *ret_used, struct berth_error *err)
{
    if (cfg->n_cpus == 0 || cfg->n_cpus > 255)
        return berth_error_set(err, -EINVAL, "ACPI: %u CPUs cannot be described (1-255)", cfg->n_cpus);
    if (cfg->n_virtio > ACPI_MAX_VIRTIO)
        return berth_error_set(err, -EINVAL, "ACPI: %zu virtio devices, at most %d", cfg->n_virtio, ACPI_MAX_VIRTIO);
    if (size < 4096)
        return berth_error_set(err, -ENOSPC, "ACPI: no room for the tables");
    memset(buf, 0, size);
    size_t rsdp = 0, xsdt = 64, off;
    size_t facs = align_up(xsdt + ACPI_HEADER_SIZE + 2 * 8, 64);
    size_t fadt = facs + ACPI_FACS_SIZE;
    int n = acpi_build_facs(buf + facs, size - facs);
    if (n < 0)
        goto nospace;
    size_t dsdt = align_up(fadt + ACPI_FADT_SIZE, 16);
    if (dsdt >= size)
        goto nospace;
    n = acpi_build_dsdt(cfg, buf + dsdt, size - dsdt);
    if (n < 0)
        goto nospace;
    size_t madt = align_up(dsdt + (size_t) n, 16);
    if (madt >= size)
        goto nospace;
    n = acpi_build_madt(cfg, buf + madt, size - madt);
    if (n < 0)
        goto nospace;
    off = madt + (size_t) n;
    if (acpi_build_fadt(base + facs, base + dsdt, buf + fadt, size - fadt) < 0)
        goto nospace;

    uint32_t xsdt_len = ACPI_HEADER_SIZE + 2 * 8;
    acpi_header(buf + xsdt, "XSDT", xsdt_len, 1);
    put64(buf + xsdt, ACPI_HEADER_SIZE, base + fadt);
    put64(buf + xsdt, ACPI_HEADER_SIZE + 8, base + madt);
    acpi_finish(buf + xsdt, xsdt_len);

    uint8_t *r = buf + rsdp;
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, "BERTH ", 6);
    put8(r, 15, 2); /* ACPI 2.0+: XSDT */
    put32(r, 16, 0);
    put32(r, 20, 36);
    put64(r, 24, base + xsdt);
    put8(r, 8, (uint8_t) (0x100 - acpi_checksum(r, 20)));
    put8(r, 32, (uint8_t) (0x100 - acpi_checksum(r, 36)));

    *ret_rsdp = base + rsdp;
    *ret_used = off;
    return 0;
nospace:
    return berth_error_set(err, -ENOSPC, "ACPI: tables do not fit in %zu bytes", size);
}
