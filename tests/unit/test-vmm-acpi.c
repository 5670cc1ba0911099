/* ACPI tables as a guest OS sees them: checksums, layout, and the disassembly of each table by
 * ACPICA's iasl (acpica-tools), which must find the devices, resources and fields we meant. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "vmm/acpi/acpi.h"
#include "vmm/acpi/aml.h"

static uint8_t buf[0x20000];

static const struct acpi_virtio_device virtio[2] = {
    { 0xd0000000, 0x200, 5 },
    { 0xd0001000, 0x200, 6 },
};

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Writes table (at guest address gpa, inside buf based at base) to a temp file, runs iasl -d
 * and returns the .dsl text. */
static char *disassemble(const uint8_t *table, const char *name)
{
    char dir[] = "/tmp/berth-acpi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], dsl[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    snprintf(dsl, sizeof(dsl), "%s/%s.dsl", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(table, 1, rd32(table + 4), f), rd32(table + 4));
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >iasl.log 2>&1", dir, name);
    int r = system(cmd);
    if (r != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s/iasl.log", dir);
        (void) system(cmd);
    }
    assert_int_equal(r, 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(dsl, 1 << 20, &text, &len, NULL), 0);
    fs_rm_rf(dir);
    return text;
}

static const uint8_t *build(unsigned cpus, uint64_t *rsdp)
{
    struct acpi_config cfg = { .n_cpus = cpus, .serial = true, .virtio = virtio, .n_virtio = 2 };
    size_t used = 0;
    assert_int_equal(acpi_build(&cfg, 0xe0000, buf, sizeof(buf), rsdp, &used, NULL), 0);
    assert_true(used < sizeof(buf));
    return buf;
}

#define AT(gpa) (buf + ((gpa) - 0xe0000))

static void test_rsdp_xsdt_checksums(void **state)
{
    uint64_t rsdp;
    build(2, &rsdp);
    assert_int_equal(rsdp, 0xe0000);
    const uint8_t *r = AT(rsdp);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(acpi_checksum(r, 20), 0);
    assert_int_equal(acpi_checksum(r, 36), 0);
    assert_int_equal(r[15], 2);
    const uint8_t *x = AT(rd64(r + 24));
    assert_memory_equal(x, "XSDT", 4);
    assert_int_equal(acpi_checksum(x, rd32(x + 4)), 0);
    assert_int_equal(rd32(x + 4), 36 + 16);
    const uint8_t *fadt = AT(rd64(x + 36)), *madt = AT(rd64(x + 44));
    assert_memory_equal(fadt, "FACP", 4);
    assert_memory_equal(madt, "APIC", 4);
    assert_int_equal(acpi_checksum(fadt, rd32(fadt + 4)), 0);
    assert_int_equal(acpi_checksum(madt, rd32(madt + 4)), 0);
    const uint8_t *dsdt = AT(rd64(fadt + 140));
    assert_memory_equal(dsdt, "DSDT", 4);
    assert_int_equal(acpi_checksum(dsdt, rd32(dsdt + 4)), 0);
    assert_memory_equal(AT(rd64(fadt + 132)), "FACS", 4);
}

static void test_dsdt_disassembles_to_our_devices(void **state)
{
    uint64_t rsdp;
    build(1, &rsdp);
    const uint8_t *x = AT(rd64(AT(rsdp) + 24));
    const uint8_t *dsdt = AT(rd64(AT(rd64(x + 36)) + 140));
    char *t = disassemble(dsdt, "dsdt");
    assert_non_null(strstr(t, "Device (COM1)"));
    assert_non_null(strstr(t, "EisaId (\"PNP0501\")"));
    assert_non_null(strstr(t, "IO (Decode16,"));
    assert_non_null(strstr(t, "0x03F8"));
    assert_non_null(strstr(t, "IRQNoFlags ()\n                    {4}"));
    assert_non_null(strstr(t, "Device (VR00)"));
    assert_non_null(strstr(t, "Device (VR01)"));
    assert_non_null(strstr(t, "\"LNRO0005\""));
    assert_non_null(strstr(t, "Memory32Fixed (ReadWrite,\n                    0xD0000000,"));
    assert_non_null(strstr(t, "0xD0001000"));
    assert_non_null(strstr(t, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"));
    assert_non_null(strstr(t, "0x00000005,"));
    assert_non_null(strstr(t, "Name (\\_S5, Package (0x04)"));
    free(t);
}

static void test_madt_has_one_lapic_per_cpu(void **state)
{
    uint64_t rsdp;
    build(3, &rsdp);
    const uint8_t *x = AT(rd64(AT(rsdp) + 24));
    char *t = disassemble(AT(rd64(x + 44)), "apic");
    assert_non_null(strstr(t, "Local Apic Address : FEE00000"));
    for (int i = 0; i < 3; i++) {
        char line[64];
        snprintf(line, sizeof(line), "Local Apic ID : %02X", i);
        assert_non_null(strstr(t, line));
    }
    assert_null(strstr(t, "Local Apic ID : 03"));
    assert_non_null(strstr(t, "Address : FEC00000"));
    assert_non_null(strstr(t, "Interrupt : 00000009"));
    assert_null(strstr(t, "**** ACPI table terminates in the middle of a data structure!"));
    free(t);
}

static void test_fadt_points_at_pm1a(void **state)
{
    uint64_t rsdp;
    build(1, &rsdp);
    const uint8_t *x = AT(rd64(AT(rsdp) + 24));
    char *t = disassemble(AT(rd64(x + 36)), "facp");
    assert_non_null(strstr(t, "PM1A Event Block Address : 00000600"));
    assert_non_null(strstr(t, "PM1A Control Block Address : 00000604"));
    assert_non_null(strstr(t, "SCI Interrupt : 0009"));
    assert_non_null(strstr(t, "Control Method Power Button (V1) : 0"));
    free(t);
}

static void test_aml_pkglength_encodings(void **state)
{
    struct aml a = { 0 };
    static const uint8_t op[] = { AML_BUFFER_OP };
    size_t m = aml_open(&a, op, 1);
    uint8_t big[100] = { 0 };
    aml_bytes(&a, big, sizeof(big));
    aml_close(&a, m);
    /* 100 bytes + 2 length bytes = 102 = 0x66: first byte (1 << 6) | 6, second 0x06. */
    assert_int_equal(a.buf[1], 0x46);
    assert_int_equal(a.buf[2], 0x06);
    assert_int_equal(a.len, 103);
    aml_free(&a);
    assert_int_equal(aml_eisaid_value("PNP0501"), 0x0105d041);
}

static void test_bad_cpu_counts(void **state)
{
    struct acpi_config cfg = { .n_cpus = 0 };
    uint64_t rsdp;
    size_t used;
    struct berth_error err = { 0 };
    assert_int_equal(acpi_build(&cfg, 0xe0000, buf, sizeof(buf), &rsdp, &used, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "CPUs"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsdp_xsdt_checksums),
        cmocka_unit_test(test_dsdt_disassembles_to_our_devices),
        cmocka_unit_test(test_madt_has_one_lapic_per_cpu),
        cmocka_unit_test(test_fadt_points_at_pm1a),
        cmocka_unit_test(test_aml_pkglength_encodings),
        cmocka_unit_test(test_bad_cpu_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
