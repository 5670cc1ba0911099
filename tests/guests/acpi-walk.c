/* acpi-walk: finds the RSDP, lists the XSDT's tables and the DSDT's devices, all from ring 3,
 * then checks the MADT's CPU count against "cpus=N" and exits 0 (status 1) when it is right. */
#include "lib/guest.h"

static long walk(long expect_cpus)
{
    uint64_t rsdp = acpi_find_rsdp();
    if (!rsdp) {
        puts_serial("acpi: no RSDP\n");
        return 2;
    }
    printk("acpi: RSDP at 0x%lx\n", (unsigned long) rsdp);
    char sigs[16][5];
    int n = acpi_list_tables(sigs, 16);
    if (n < 0) {
        puts_serial("acpi: bad XSDT\n");
        return 3;
    }
    for (int i = 0; i < n && i < 16; i++)
        printk("acpi: table %s\n", sigs[i]);
    uint64_t dsdt = acpi_find_table("DSDT");
    printk("acpi: DSDT %s\n", dsdt ? "found" : "missing");
    struct acpi_device devs[32];
    int nd = acpi_find_devices(devs, 32);
    for (int i = 0; i < nd; i++) {
        printk("acpi: device %s mmio 0x%lx size 0x%x io 0x%x irq %u\n", devs[i].hid, (unsigned long) devs[i].mmio_base,
               devs[i].mmio_size, devs[i].io_base, devs[i].irq);
        /* A virtio-mmio window answers its magic, version 2 and a device ID (MMIO from ring 3). */
        if (!memcmp(devs[i].hid, "LNRO0005", 8) && devs[i].mmio_base) {
            uint64_t b = devs[i].mmio_base;
            printk("virtio: 0x%lx magic 0x%x version %u device %u\n", (unsigned long) b, mmio_read32(b),
                   mmio_read32(b + 4), mmio_read32(b + 8));
        }
    }
    const uint8_t *madt = (const uint8_t *) (uintptr_t) acpi_find_table("APIC");
    if (!madt) {
        puts_serial("acpi: no MADT\n");
        return 4;
    }
    uint32_t len = *(const uint32_t *) (madt + 4);
    int cpus = 0, ioapics = 0;
    for (uint32_t off = 44; off + 2 <= len && madt[off + 1]; off += madt[off + 1]) {
        if (madt[off] == 0 && (madt[off + 4] & 1))
            cpus++;
        if (madt[off] == 1)
            ioapics++;
    }
    printk("acpi: MADT %d cpus %d ioapics\n", cpus, ioapics);
    if (expect_cpus && cpus != expect_cpus)
        return 5;
    return dsdt ? 0 : 6;
}

void guest_main(void)
{
    char buf[16];
    long cpus = cmdline_get("cpus", buf, sizeof(buf)) ? (long) parse_u64(buf) : 0;
    long r = user_call(walk, cpus);
    printk("acpi-walk: result %ld\n", r);
    debug_exit((uint32_t) r);
}
