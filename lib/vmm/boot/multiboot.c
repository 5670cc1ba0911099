/* Multiboot v1: a header (magic 0x1BADB002) in the first 8 KiB, either with the a.out-kludge
 * address fields (flag 16) or an ELF image; entered in 32-bit protected mode with %eax =
 * 0x2BADB002 and %ebx -> multiboot_info. */
#include <errno.h>
#include <string.h>

#include "vmm/boot/boot.h"
#include "vmm/boot/bzimage.h"

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u
#define MB_SEARCH 8192
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)
#define MB_INFO_MMAP (1u << 6)

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
};

struct mb_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));

struct mb_module {
    uint32_t mod_start, mod_end, string, reserved;
};

static long mb_find_header(const uint8_t *img, size_t len)
{
    size_t lim = len < MB_SEARCH ? len : MB_SEARCH;
    for (size_t off = 0; off + 12 <= lim; off += 4) {
        uint32_t magic = rd32(img + off), flags = rd32(img + off + 4), sum = rd32(img + off + 8);
        if (magic == MB_HEADER_MAGIC && (uint32_t) (magic + flags + sum) == 0)
            return (long) off;
    }
    return -1;
}

static int mb_write_info(struct guest_memory *mem, const struct boot_request *req, const struct boot_result *res)
{
    struct mb_info info = {
        .flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MMAP,
        .mem_lower = (uint32_t) (BOOT_EBDA_START >> 10),
        .cmdline = (uint32_t) BOOT_CMDLINE_ADDR,
        .mmap_addr = (uint32_t) BOOT_MEMMAP_ADDR,
    };
    uint64_t low_end = e820_low_ram_end(req->e820);
    info.mem_upper = (uint32_t) ((low_end - BOOT_HIGH_ADDR) >> 10);
    for (size_t i = 0; i < req->e820->n; i++) {
        struct mb_mmap_entry m = { 20, req->e820->e[i].addr, req->e820->e[i].size, req->e820->e[i].type };
        if (guest_memory_write(mem, BOOT_MEMMAP_ADDR + i * sizeof(m), &m, sizeof(m)) < 0)
            return -EFAULT;
        info.mmap_length += sizeof(m);
    }
    if (res->initrd_size) {
        struct mb_module mod = { (uint32_t) res->initrd_start, (uint32_t) (res->initrd_start + res->initrd_size), 0, 0 };
        if (guest_memory_write(mem, BOOT_MODLIST_ADDR, &mod, sizeof(mod)) < 0)
            return -EFAULT;
        info.flags |= MB_INFO_MODS;
        info.mods_count = 1;
        info.mods_addr = (uint32_t) BOOT_MODLIST_ADDR;
    }
    return guest_memory_write(mem, BOOT_INFO_ADDR, &info, sizeof(info));
}

int boot_load_multiboot(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                        struct boot_result *ret, struct berth_error *err)
{
    long off = mb_find_header(img, len);
    if (off < 0)
        return -ENOEXEC;
    uint32_t flags = rd32(img + off + 4);
    if (flags & MB_FLAG_AOUT_KLUDGE) {
        if ((size_t) off + 32 > len)
            return berth_error_set(err, -EINVAL, "multiboot header truncated");
        uint32_t header_addr = rd32(img + off + 12), load_addr = rd32(img + off + 16);
        uint32_t load_end = rd32(img + off + 20), bss_end = rd32(img + off + 24), entry = rd32(img + off + 28);
        if (load_addr > header_addr || header_addr - load_addr > (uint32_t) off)
            return berth_error_set(err, -EINVAL, "multiboot header: load_addr after header_addr");
        uint64_t file_start = (uint64_t) off - (header_addr - load_addr);
        uint64_t size = load_end ? (uint64_t) load_end - load_addr : len - file_start;
        if (load_end && load_end < load_addr)
            return berth_error_set(err, -EINVAL, "multiboot header: load_end_addr before load_addr");
        if (size > len - file_start)
            return berth_error_set(err, -EINVAL, "multiboot header: image shorter than load_end_addr says");
        uint64_t end = bss_end > load_addr + size ? bss_end : load_addr + size;
        if (load_addr < BOOT_HIGH_ADDR)
            return berth_error_set(err, -EINVAL, "multiboot image loads at 0x%x, below 1 MiB", load_addr);
        uint8_t *dst = guest_memory_ptr(mem, load_addr, end - load_addr);
        if (!dst)
            return berth_error_set(err, -E2BIG, "multiboot image (0x%x-0x%llx) is outside guest memory", load_addr,
                                   (unsigned long long) end);
        memcpy(dst, img + file_start, size);
        memset(dst + size, 0, end - load_addr - size);
        ret->kernel_start = load_addr;
        ret->kernel_end = end;
        ret->entry.rip = entry;
    } else {
        struct boot_result elf = { 0 };
        struct boot_request plain = *req;
        plain.initrd_path = NULL;
        int r = boot_load_elf(mem, img, len, &plain, &elf, err);
        if (r == -ENOEXEC)
            return berth_error_set(err, -EINVAL, "multiboot image is neither ELF nor has load addresses (flag 16)");
        if (r < 0)
            return r;
        ret->kernel_start = elf.kernel_start;
        ret->kernel_end = elf.kernel_end;
        ret->entry.rip = elf.entry.rip;
    }
    int r = boot_write_cmdline(mem, req->cmdline, BOOT_CMDLINE_MAX, err);
    if (r < 0)
        return r;
    r = boot_place_initrd(mem, req, (ret->kernel_end + 0xfff) & ~0xfffULL, 0x100000000ULL, ret, err);
    if (r < 0)
        return r;
    if (mb_write_info(mem, req, ret) < 0)
        return berth_error_set(err, -EFAULT, "guest memory too small for multiboot_info");
    ret->protocol = BOOT_PROTO_MULTIBOOT;
    ret->entry.mode = BOOT_CPU_PROT32;
    ret->entry.rsp = BOOT_STACK_TOP;
    ret->entry.rax = MB_BOOT_MAGIC;
    ret->entry.rbx = BOOT_INFO_ADDR;
    return 0;
}
