#include "vmm/boot/gdt.h"

#include <errno.h>
#include <string.h>

static uint64_t gdt_desc(uint32_t flags, uint32_t base, uint32_t limit)
{
    /* flags holds the access byte in bits 0-7 and G/DB/L/AVL in bits 12-15, as laid out in the
     * descriptor's second dword shifted down by 8. */
    return ((uint64_t) (base & 0xff000000u) << 32) | ((uint64_t) (flags & 0xf0ffu) << 40) |
           ((uint64_t) (limit & 0xf0000u) << 32) | ((uint64_t) (base & 0x00ffffffu) << 16) | (limit & 0xffffu);
}

void boot_gdt_entries(uint64_t gdt[BOOT_GDT_ENTRIES])
{
    gdt[0] = 0;
    gdt[BOOT_SEL_CODE32 >> 3] = gdt_desc(0xc09b, 0, 0xfffff); /* G, D, present, code exec/read accessed */
    gdt[BOOT_SEL_CODE64 >> 3] = gdt_desc(0xa09b, 0, 0xfffff); /* G, L */
    gdt[BOOT_SEL_DATA >> 3] = gdt_desc(0xc093, 0, 0xfffff);   /* G, B, data read/write accessed */
    gdt[BOOT_SEL_TSS >> 3] = gdt_desc(0x008b, 0, 0x67);       /* busy 32/64-bit TSS */
}

struct boot_segment boot_gdt_decode(uint64_t d)
{
    struct boot_segment s = {
        .base = (uint32_t) (((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000u)),
        .limit = (uint32_t) ((d & 0xffff) | ((d >> 32) & 0xf0000)),
        .type = (d >> 40) & 0xf,
        .s = (d >> 44) & 1,
        .dpl = (d >> 45) & 3,
        .present = (d >> 47) & 1,
        .avl = (d >> 52) & 1,
        .l = (d >> 53) & 1,
        .db = (d >> 54) & 1,
        .g = (d >> 55) & 1,
    };
    if (s.g)
        s.limit = (s.limit << 12) | 0xfff;
    return s;
}

int boot_write_gdt(struct guest_memory *mem)
{
    uint64_t gdt[BOOT_GDT_ENTRIES];
    boot_gdt_entries(gdt);
    return guest_memory_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

int boot_write_page_tables(struct guest_memory *mem)
{
    uint64_t *pml4 = guest_memory_ptr(mem, BOOT_PML4_ADDR, 4096);
    uint64_t *pdpt = guest_memory_ptr(mem, BOOT_PDPT_ADDR, 4096);
    uint64_t *pd = guest_memory_ptr(mem, BOOT_PD_ADDR, 4 * 4096);
    if (!pml4 || !pdpt || !pd)
        return -EFAULT;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = BOOT_PDPT_ADDR | 0x3; /* present, writable */
    for (int i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
    return 0;
}
