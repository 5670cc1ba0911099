/* The guest's physical memory map (e820 types), shared by every boot protocol: Linux boot_params,
 * PVH's hvm_memmap_table and multiboot's mmap all describe the same ranges. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX_ENTRIES 8

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
};

struct e820_map {
    size_t n;
    struct e820_entry e[E820_MAX_ENTRIES];
};

/* RAM below the EBDA, the reserved EBDA and BIOS area (where the ACPI tables live), RAM from
 * 1 MiB to low_end (at most the MMIO hole) and the rest above 4 GiB. mem_size >= 2 MiB. */
void e820_build(uint64_t mem_size, uint64_t low_end, struct e820_map *ret);

/* Highest address + 1 of RAM below 4 GiB. */
uint64_t e820_low_ram_end(const struct e820_map *m);
