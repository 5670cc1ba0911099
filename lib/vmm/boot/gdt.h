/* The boot GDT shared by every entry mode, and the page tables for 64-bit entry: both are
 * written into guest memory at fixed addresses (entry.h) before the first instruction. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm/boot/entry.h"
#include "vmm/kvm/guest-memory.h"

struct boot_segment {
    uint32_t base, limit; /* limit in bytes (granularity applied) */
    uint8_t type, present, dpl, db, s, l, g, avl;
};

/* null, 32-bit code, 64-bit code, data, TSS: selectors BOOT_SEL_*. */
void boot_gdt_entries(uint64_t gdt[BOOT_GDT_ENTRIES]);
struct boot_segment boot_gdt_decode(uint64_t desc);

/* Writes the GDT at BOOT_GDT_ADDR; -EFAULT when low memory is missing. */
int boot_write_gdt(struct guest_memory *mem);

/* Writes PML4/PDPT/PDs identity-mapping the first 4 GiB with 2 MiB pages at BOOT_PML4_ADDR. */
int boot_write_page_tables(struct guest_memory *mem);
