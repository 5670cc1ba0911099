/* Kernel image parsers on hostile input: the first byte picks bzImage, ELF/PVH, multiboot or
 * vmlinux extraction; the rest is the image, loaded into a fake 32 MiB guest memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/boot.h"

#define MEM (32u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static struct guest_memory mem;
    static struct e820_map e820;
    if (!ram) {
        ram = calloc(1, MEM);
        if (!ram)
            abort();
        guest_memory_add_region(&mem, 0, MEM, ram);
        e820_build(MEM, 0xc0000000ULL, &e820);
    }
    if (size < 1)
        return 0;
    const uint8_t *img = data + 1;
    size_t len = size - 1;
    struct boot_request req = { .kernel_path = "fuzz", .cmdline = "console=ttyS0", .mem_size = MEM,
                                .rsdp_addr = 0xe0000, .e820 = &e820 };
    struct boot_result res = { 0 };
    struct berth_error err = { 0 };
    uint64_t entry;
    uint8_t *out = NULL;
    size_t out_len = 0;
    switch (data[0] % 4) {
    case 0:
        boot_load_bzimage(&mem, img, len, &req, &res, &err);
        break;
    case 1:
        boot_elf_pvh_entry(img, len, &entry);
        boot_load_elf(&mem, img, len, &req, &res, &err);
        break;
    case 2:
        boot_load_multiboot(&mem, img, len, &req, &res, &err);
        break;
    case 3:
        if (boot_extract_vmlinux(img, len, &out, &out_len, &err) == 0)
            free(out);
        break;
    }
    return 0;
}
