#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/acpi/acpi.h"
#include "vmm/acpi/aml.h"
#include "vmm/devices/legacy.h"
#include "vmm/devices/serial.h"

static void dsdt_com1(struct aml *a)
{
    static const uint8_t dev_op[] = { AML_EXT_PREFIX, AML_DEVICE_OP };
    size_t dev = aml_open(a, dev_op, sizeof(dev_op));
    aml_name(a, "COM1");
    aml_name_decl(a, "_HID");
    aml_eisaid(a, "PNP0501");
    aml_name_decl(a, "_UID");
    aml_integer(a, 1);
    aml_name_decl(a, "_CRS");
    static const uint8_t buf_op[] = { AML_BUFFER_OP };
    size_t buf = aml_open(a, buf_op, sizeof(buf_op));
    aml_integer(a, 8 + 3 + 2);
    aml_res_io(a, SERIAL_COM1_BASE, 8);
    aml_res_irq_noflags(a, SERIAL_COM1_IRQ);
    aml_res_end(a);
    aml_close(a, buf);
    aml_close(a, dev);
}

static void dsdt_virtio(struct aml *a, unsigned i, const struct acpi_virtio_device *d)
{
    static const uint8_t dev_op[] = { AML_EXT_PREFIX, AML_DEVICE_OP };
    char name[5];
    snprintf(name, sizeof(name), "VR%02X", i & 0xff);
    size_t dev = aml_open(a, dev_op, sizeof(dev_op));
    aml_name(a, name);
    aml_name_decl(a, "_HID");
    aml_string(a, "LNRO0005");
    aml_name_decl(a, "_UID");
    aml_integer(a, i);
    aml_name_decl(a, "_CCA"); /* DMA is cache-coherent */
    aml_integer(a, 1);
    aml_name_decl(a, "_CRS");
    static const uint8_t buf_op[] = { AML_BUFFER_OP };
    size_t buf = aml_open(a, buf_op, sizeof(buf_op));
    aml_integer(a, 12 + 9 + 2);
    aml_res_memory32_fixed(a, (uint32_t) d->base, d->size);
    aml_res_interrupt(a, d->gsi, 1, 0);
    aml_res_end(a);
    aml_close(a, buf);
    aml_close(a, dev);
}

int acpi_build_dsdt(const struct acpi_config *cfg, uint8_t *out, size_t size)
{
    struct aml a = { 0 };
    uint8_t hdr[36] = { 0 };
    aml_bytes(&a, hdr, sizeof(hdr));

    static const uint8_t scope_op[] = { AML_SCOPE_OP };
    size_t sb = aml_open(&a, scope_op, sizeof(scope_op));
    aml_name(&a, "\\_SB_");
    if (cfg->serial)
        dsdt_com1(&a);
    for (size_t i = 0; i < cfg->n_virtio; i++)
        dsdt_virtio(&a, (unsigned) i, &cfg->virtio[i]);
    aml_close(&a, sb);

    /* \_S5: the SLP_TYP values the OS writes to PM1a/PM1b control to power off. */
    aml_name_decl(&a, "\\_S5_");
    static const uint8_t pkg_op[] = { AML_PACKAGE_OP };
    size_t pkg = aml_open(&a, pkg_op, sizeof(pkg_op));
    aml_byte(&a, 4);
    aml_integer(&a, ACPI_SLP_TYP_S5);
    aml_integer(&a, ACPI_SLP_TYP_S5);
    aml_integer(&a, 0);
    aml_integer(&a, 0);
    aml_close(&a, pkg);

    if (a.err) {
        int r = a.err;
        aml_free(&a);
        return r;
    }
    if (a.len > size) {
        aml_free(&a);
        return -ENOSPC;
    }
    /* Header fields as in tables.c (kept local: the DSDT is the only table built in a buffer). */
    memcpy(a.buf, "DSDT", 4);
    uint32_t len = (uint32_t) a.len;
    memcpy(a.buf + 4, &len, 4);
    a.buf[8] = 2; /* revision 2: 64-bit integers */
    memcpy(a.buf + 10, "BERTH ", 6);
    memcpy(a.buf + 16, "BERTHVM ", 8);
    uint32_t one = 1;
    memcpy(a.buf + 24, &one, 4);
    memcpy(a.buf + 28, "BRTH", 4);
    memcpy(a.buf + 32, &one, 4);
    a.buf[9] = (uint8_t) (0x100 - acpi_checksum(a.buf, a.len));
    memcpy(out, a.buf, a.len);
    aml_free(&a);
    return (int) len;
}
