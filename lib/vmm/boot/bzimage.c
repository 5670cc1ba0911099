/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry: the protected-mode
 * kernel is loaded at its preferred address and entered at +0x200 in long mode with %rsi pointing
 * at boot_params (the "zero page"). */
#include <errno.h>
#include <string.h>

#include "vmm/boot/boot.h"
#include "vmm/boot/bzimage.h"

int bzimage_parse_header(const uint8_t *img, size_t len, struct bzimage_header *ret)
{
    if (len < 0x264 || memcmp(img + BZ_HEADER_MAGIC_OFF, "HdrS", 4) != 0 || rd16(img + 0x1fe) != 0xaa55)
        return -ENOEXEC;
    struct bzimage_header h = { 0 };
    h.version = rd16(img + 0x206);
    h.setup_sects = img[0x1f1] ? img[0x1f1] : 4;
    h.loadflags = img[0x211];
    h.initrd_addr_max = h.version >= 0x203 ? rd32(img + 0x22c) : 0x37ffffff;
    h.kernel_alignment = rd32(img + 0x230);
    h.relocatable = img[0x234];
    h.xloadflags = rd16(img + 0x236);
    h.cmdline_size = h.version >= 0x206 ? rd32(img + 0x238) : 255;
    h.payload_offset = rd32(img + 0x248);
    h.payload_length = rd32(img + 0x24c);
    h.pref_address = h.version >= 0x20a ? rd64(img + 0x258) : BOOT_HIGH_ADDR;
    h.init_size = h.version >= 0x20a ? rd32(img + 0x260) : 0;
    h.header_end = 0x202 + img[0x201];
    h.kernel_offset = ((uint64_t) h.setup_sects + 1) * 512;
    if (h.kernel_offset >= len)
        return -EINVAL;
    h.kernel_size = len - h.kernel_offset;
    if (h.header_end > len || h.header_end > 0x290)
        return -EINVAL;
    *ret = h;
    return 0;
}

int boot_load_bzimage(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                      struct boot_result *ret, struct berth_error *err)
{
    struct bzimage_header h;
    int r = bzimage_parse_header(img, len, &h);
    if (r == -ENOEXEC)
        return r;
    if (r < 0)
        return berth_error_set(err, r, "corrupt bzImage setup header");
    if (h.version < 0x20c || !(h.xloadflags & BZ_XLF_KERNEL_64) || !(h.loadflags & BZ_LOADED_HIGH))
        return berth_error_set(err, -ENOTSUP, "bzImage boot protocol %u.%02u without 64-bit entry; 2.12 or newer "
                                              "with XLF_KERNEL_64 is needed", h.version >> 8, h.version & 0xff);
    uint64_t load = h.pref_address;
    if (load < BOOT_HIGH_ADDR)
        load = BOOT_HIGH_ADDR;
    uint64_t need = h.init_size > h.kernel_size ? h.init_size : h.kernel_size;
    uint64_t low_end = e820_low_ram_end(req->e820);
    if (load + need < load || load + need > low_end)
        return berth_error_set(err, -E2BIG, "bzImage needs %llu MiB of memory at 0x%llx; raise --memory",
                               (unsigned long long) ((load + need + (1 << 20) - 1) >> 20), (unsigned long long) load);
    if (guest_memory_write(mem, load, img + h.kernel_offset, h.kernel_size) < 0)
        return berth_error_set(err, -EFAULT, "bzImage: no guest memory at 0x%llx", (unsigned long long) load);

    r = boot_write_cmdline(mem, req->cmdline, h.cmdline_size + 1, err);
    if (r < 0)
        return r;
    r = boot_place_initrd(mem, req, load + need, (uint64_t) h.initrd_addr_max + 1, ret, err);
    if (r < 0)
        return r;

    uint8_t *zp = guest_memory_ptr(mem, BOOT_ZERO_PAGE_ADDR, 4096);
    if (!zp)
        return -EFAULT;
    memset(zp, 0, 4096);
    memcpy(zp + 0x1f1, img + 0x1f1, h.header_end - 0x1f1);
    zp[BZ_TYPE_OF_LOADER] = 0xff; /* undefined boot loader */
    zp[BZ_LOADFLAGS] = (uint8_t) (h.loadflags | BZ_CAN_USE_HEAP);
    wr16(zp + BZ_HEAP_END_PTR, 0xfe00);
    wr32(zp + BZ_CMD_LINE_PTR, (uint32_t) BOOT_CMDLINE_ADDR);
    wr32(zp + BZ_CODE32_START, (uint32_t) load);
    wr32(zp + BZ_RAMDISK_IMAGE, (uint32_t) ret->initrd_start);
    wr32(zp + BZ_RAMDISK_SIZE, (uint32_t) ret->initrd_size);
    wr64(zp + BZ_ACPI_RSDP_ADDR, req->rsdp_addr);
    size_t n = req->e820->n < 128 ? req->e820->n : 128;
    zp[BZ_E820_ENTRIES] = (uint8_t) n;
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = zp + BZ_E820_TABLE + i * 20;
        wr64(e, req->e820->e[i].addr);
        wr64(e + 8, req->e820->e[i].size);
        wr32(e + 16, req->e820->e[i].type);
    }

    ret->protocol = BOOT_PROTO_LINUX;
    ret->kernel_start = load;
    ret->kernel_end = load + need;
    ret->entry = (struct boot_entry){
        .mode = BOOT_CPU_LONG64,
        .rip = load + 0x200,
        .rsp = BOOT_STACK_TOP,
        .rsi = BOOT_ZERO_PAGE_ADDR,
    };
    return 0;
}
