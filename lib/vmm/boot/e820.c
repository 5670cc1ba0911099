#include "vmm/boot/e820.h"

#include "vmm/boot/entry.h"

static void add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type)
{
    if (size && m->n < E820_MAX_ENTRIES)
        m->e[m->n++] = (struct e820_entry){ addr, size, type };
}

void e820_build(uint64_t mem_size, uint64_t low_end, struct e820_map *ret)
{
    struct e820_map m = { 0 };
    uint64_t low = mem_size < low_end ? mem_size : low_end;
    add(&m, 0, BOOT_EBDA_START, E820_RAM);
    add(&m, BOOT_EBDA_START, 0xa0000 - BOOT_EBDA_START, E820_RESERVED);
    add(&m, BOOT_ACPI_ADDR, BOOT_HIGH_ADDR - BOOT_ACPI_ADDR, E820_RESERVED);
    if (low > BOOT_HIGH_ADDR)
        add(&m, BOOT_HIGH_ADDR, low - BOOT_HIGH_ADDR, E820_RAM);
    if (mem_size > low)
        add(&m, 0x100000000ULL, mem_size - low, E820_RAM);
    *ret = m;
}

uint64_t e820_low_ram_end(const struct e820_map *m)
{
    uint64_t end = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].type == E820_RAM && m->e[i].addr < 0x100000000ULL && m->e[i].addr + m->e[i].size > end)
            end = m->e[i].addr + m->e[i].size;
    return end;
}
