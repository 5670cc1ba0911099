/* ACPI tables generated for one machine: RSDP -> XSDT -> FADT (-> FACS, DSDT), MADT. The DSDT
 * describes the COM1 UART and every virtio-mmio device (LNRO0005, Memory32Fixed + Interrupt); the
 * FADT points at the PM1a blocks of lib/vmm/devices/acpi-pm.c so guest poweroff ends the VM and
 * the power button can ask the guest to stop. Layout: RSDP first, at `base` (16-byte aligned,
 * inside the BIOS area Linux scans), the other tables after it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define ACPI_MAX_VIRTIO 32
#define ACPI_IOAPIC_ADDR 0xfec00000u
#define ACPI_LAPIC_ADDR 0xfee00000u

struct acpi_virtio_device {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
};

struct acpi_config {
    unsigned n_cpus;
    bool serial;
    const struct acpi_virtio_device *virtio;
    size_t n_virtio;
};

/* Writes the tables into buf (guest memory at guest physical `base`). *ret_rsdp is the RSDP's
 * guest address, *ret_used the bytes written. */
int acpi_build(const struct acpi_config *cfg, uint64_t base, uint8_t *buf, size_t size, uint64_t *ret_rsdp,
               size_t *ret_used, struct berth_error *err);

/* Table writers, exposed for the unit tests: each returns the table length or -errno. */
int acpi_build_dsdt(const struct acpi_config *cfg, uint8_t *buf, size_t size);
int acpi_build_madt(const struct acpi_config *cfg, uint8_t *buf, size_t size);
int acpi_build_fadt(uint64_t facs, uint64_t dsdt, uint8_t *buf, size_t size);

/* Sum of bytes mod 256 (0 for a valid table). */
uint8_t acpi_checksum(const uint8_t *p, size_t n);
