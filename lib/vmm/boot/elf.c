/* ELF kernels: PVH (Xen's direct boot ABI, the XEN_ELFNOTE_PHYS32_ENTRY note: 32-bit protected
 * mode, paging off, %ebx -> hvm_start_info) and plain ELF entered at e_entry. Loads PT_LOAD
 * segments at their physical addresses, each checked against the file and guest memory. */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vmm/boot/boot.h"
#include "vmm/boot/bzimage.h"
#include "vmm/boot/pvh.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHDRS 64

struct elf_info {
    bool is64;
    uint16_t machine;
    uint64_t entry;
    uint64_t phoff;
    uint16_t phnum, phentsize;
};

static int elf_parse(const uint8_t *img, size_t len, struct elf_info *ret)
{
    if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
        return -ENOEXEC;
    struct elf_info e = { 0 };
    if (img[EI_CLASS] == ELFCLASS64 && len >= sizeof(Elf64_Ehdr)) {
        Elf64_Ehdr h;
        memcpy(&h, img, sizeof(h));
        e = (struct elf_info){ true, h.e_machine, h.e_entry, h.e_phoff, h.e_phnum, h.e_phentsize };
        if (e.phentsize != sizeof(Elf64_Phdr))
            return -EINVAL;
    } else if (img[EI_CLASS] == ELFCLASS32 && len >= sizeof(Elf32_Ehdr)) {
        Elf32_Ehdr h;
        memcpy(&h, img, sizeof(h));
        e = (struct elf_info){ false, h.e_machine, h.e_entry, h.e_phoff, h.e_phnum, h.e_phentsize };
        if (e.phentsize != sizeof(Elf32_Phdr))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (img[EI_DATA] != ELFDATA2LSB || (e.machine != EM_X86_64 && e.machine != EM_386))
        return -EINVAL;
    if (e.phnum == 0 || e.phnum > ELF_MAX_PHDRS || e.phoff > len || (uint64_t) e.phnum * e.phentsize > len - e.phoff)
        return -EINVAL;
    *ret = e;
    return 0;
}

static Elf64_Phdr elf_phdr(const uint8_t *img, const struct elf_info *e, unsigned i)
{
    const uint8_t *p = img + e->phoff + (uint64_t) i * e->phentsize;
    if (e->is64) {
        Elf64_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        return ph;
    }
    Elf32_Phdr ph32;
    memcpy(&ph32, p, sizeof(ph32));
    return (Elf64_Phdr){ .p_type = ph32.p_type, .p_flags = ph32.p_flags, .p_offset = ph32.p_offset,
                         .p_vaddr = ph32.p_vaddr, .p_paddr = ph32.p_paddr, .p_filesz = ph32.p_filesz,
                         .p_memsz = ph32.p_memsz, .p_align = ph32.p_align };
}

int boot_elf_pvh_entry(const uint8_t *img, size_t len, uint64_t *ret_entry)
{
    struct elf_info e;
    int r = elf_parse(img, len, &e);
    if (r < 0)
        return r == -ENOEXEC ? 0 : r;
    for (unsigned i = 0; i < e.phnum; i++) {
        Elf64_Phdr ph = elf_phdr(img, &e, i);
        if (ph.p_type != PT_NOTE)
            continue;
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return -EINVAL;
        const uint8_t *n = img + ph.p_offset, *end = n + ph.p_filesz;
        while (end - n >= 12) {
            uint32_t namesz = rd32(n), descsz = rd32(n + 4), type = rd32(n + 8);
            uint64_t name_al = ((uint64_t) namesz + 3) & ~3ULL, desc_al = ((uint64_t) descsz + 3) & ~3ULL;
            if (name_al > (uint64_t) (end - n - 12) || desc_al > (uint64_t) (end - n - 12) - name_al)
                break;
            const uint8_t *name = n + 12, *desc = name + name_al;
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
                (descsz == 4 || descsz == 8)) {
                *ret_entry = descsz == 4 ? rd32(desc) : rd64(desc);
                return 1;
            }
            n = desc + desc_al;
        }
    }
    return 0;
}

/* Loads every PT_LOAD at p_paddr; returns the lowest and highest+1 addresses used. */
static int elf_load_segments(struct guest_memory *mem, const uint8_t *img, size_t len, const struct elf_info *e,
                             uint64_t *ret_start, uint64_t *ret_end, struct berth_error *err)
{
    uint64_t start = UINT64_MAX, end = 0;
    for (unsigned i = 0; i < e->phnum; i++) {
        Elf64_Phdr ph = elf_phdr(img, e, i);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return berth_error_set(err, -EINVAL, "ELF segment %u lies outside the file", i);
        if (ph.p_paddr < BOOT_HIGH_ADDR)
            return berth_error_set(err, -EINVAL, "ELF segment %u loads at 0x%llx, below 1 MiB (reserved for boot data)",
                                   i, (unsigned long long) ph.p_paddr);
        uint8_t *dst = guest_memory_ptr(mem, ph.p_paddr, ph.p_memsz);
        if (!dst)
            return berth_error_set(err, -E2BIG, "ELF segment %u (0x%llx, %llu KiB) is outside guest memory; raise --memory",
                                   i, (unsigned long long) ph.p_paddr, (unsigned long long) (ph.p_memsz >> 10));
        memcpy(dst, img + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr < start)
            start = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > end)
            end = ph.p_paddr + ph.p_memsz;
    }
    if (end == 0)
        return berth_error_set(err, -EINVAL, "ELF image has no loadable segment");
    *ret_start = start;
    *ret_end = end;
    return 0;
}

static int pvh_write_start_info(struct guest_memory *mem, const struct boot_request *req, const struct boot_result *res)
{
    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .cmdline_paddr = BOOT_CMDLINE_ADDR,
        .rsdp_paddr = req->rsdp_addr,
        .memmap_paddr = BOOT_MEMMAP_ADDR,
        .memmap_entries = (uint32_t) req->e820->n,
    };
    if (res->initrd_size) {
        struct hvm_modlist_entry mod = { .paddr = res->initrd_start, .size = res->initrd_size };
        if (guest_memory_write(mem, BOOT_MODLIST_ADDR, &mod, sizeof(mod)) < 0)
            return -EFAULT;
        si.nr_modules = 1;
        si.modlist_paddr = BOOT_MODLIST_ADDR;
    }
    for (size_t i = 0; i < req->e820->n; i++) {
        struct hvm_memmap_table_entry m = { req->e820->e[i].addr, req->e820->e[i].size, req->e820->e[i].type, 0 };
        if (guest_memory_write(mem, BOOT_MEMMAP_ADDR + i * sizeof(m), &m, sizeof(m)) < 0)
            return -EFAULT;
    }
    return guest_memory_write(mem, BOOT_INFO_ADDR, &si, sizeof(si));
}

int boot_load_elf(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                  struct boot_result *ret, struct berth_error *err)
{
    struct elf_info e;
    int r = elf_parse(img, len, &e);
    if (r == -ENOEXEC)
        return r;
    if (r < 0)
        return berth_error_set(err, r, "corrupt ELF header or program headers");
    uint64_t pvh_entry = 0;
    int has_pvh = boot_elf_pvh_entry(img, len, &pvh_entry);
    if (has_pvh < 0)
        return berth_error_set(err, has_pvh, "corrupt ELF note segment");
    r = elf_load_segments(mem, img, len, &e, &ret->kernel_start, &ret->kernel_end, err);
    if (r < 0)
        return r;
    r = boot_write_cmdline(mem, req->cmdline, BOOT_CMDLINE_MAX, err);
    if (r < 0)
        return r;
    r = boot_place_initrd(mem, req, (ret->kernel_end + 0xfff) & ~0xfffULL, 0, ret, err);
    if (r < 0)
        return r;
    if (has_pvh) {
        if (pvh_entry >= 0x100000000ULL)
            return berth_error_set(err, -EINVAL, "PVH entry 0x%llx is above 4 GiB", (unsigned long long) pvh_entry);
        if (pvh_write_start_info(mem, req, ret) < 0)
            return berth_error_set(err, -EFAULT, "guest memory too small for hvm_start_info");
        ret->protocol = BOOT_PROTO_PVH;
        ret->entry = (struct boot_entry){ .mode = BOOT_CPU_PROT32, .rip = pvh_entry, .rsp = BOOT_STACK_TOP,
                                          .rbx = BOOT_INFO_ADDR };
        return 0;
    }
    ret->protocol = BOOT_PROTO_ELF;
    ret->entry = (struct boot_entry){ .mode = e.is64 ? BOOT_CPU_LONG64 : BOOT_CPU_PROT32, .rip = e.entry,
                                      .rsp = BOOT_STACK_TOP, .rbx = BOOT_INFO_ADDR };
    /* A plain ELF gets the PVH start info too, so a freestanding guest finds its memory map. */
    if (pvh_write_start_info(mem, req, ret) < 0)
        return berth_error_set(err, -EFAULT, "guest memory too small for boot information");
    return 0;
}
