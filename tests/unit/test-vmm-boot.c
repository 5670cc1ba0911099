/* Boot protocols without KVM: kernels are synthesized in memory and loaded into a fake guest
 * memory; the boot structures are read back as the guest would. */
#include <elf.h>
#include <fcntl.h>
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "vmm/boot/boot.h"
#include "vmm/boot/bzimage.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/pvh.h"
#include "vmm/kvm/cpuid.h"

#define MEM_SIZE (64ULL << 20)

struct fixture {
    uint8_t *ram;
    struct guest_memory mem;
    struct e820_map e820;
    char path[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, MEM_SIZE);
    guest_memory_add_region(&f->mem, 0, MEM_SIZE, f->ram);
    e820_build(MEM_SIZE, 0xc0000000ULL, &f->e820);
    strcpy(f->path, "/tmp/berth-boot-XXXXXX");
    int fd = mkstemp(f->path);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    free(f->ram);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static uint8_t *make_bzimage(size_t payload_len, const uint8_t *payload, size_t *ret_len)
{
    size_t len = 2 * 512 + 4096 + payload_len;
    uint8_t *img = calloc(1, len);
    img[0x1f1] = 1; /* setup_sects */
    wr16(img + 0x1fe, 0xaa55);
    memcpy(img + 0x202, "HdrS", 4);
    img[0x201] = 0x6a; /* header ends at 0x26c */
    wr16(img + 0x206, 0x020f);
    img[0x211] = BZ_LOADED_HIGH;
    wr32(img + 0x22c, 0x7fffffff);
    wr32(img + 0x230, 0x200000);
    img[0x234] = 1;
    wr16(img + 0x236, BZ_XLF_KERNEL_64);
    wr32(img + 0x238, 2047);
    wr32(img + 0x248, 4096);
    wr32(img + 0x24c, (uint32_t) payload_len);
    wr64(img + 0x258, 0x1000000);
    wr32(img + 0x260, 0x400000);
    memcpy(img + 1024, "KERNEL64", 8);
    if (payload)
        memcpy(img + 1024 + 4096, payload, payload_len);
    *ret_len = len;
    return img;
}

static void test_e820_layout(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->e820.n, 4);
    assert_int_equal(f->e820.e[0].addr, 0);
    assert_int_equal(f->e820.e[0].type, E820_RAM);
    assert_int_equal(f->e820.e[2].addr, BOOT_ACPI_ADDR);
    assert_int_equal(f->e820.e[2].type, E820_RESERVED);
    assert_int_equal(f->e820.e[3].addr, 0x100000);
    assert_int_equal(f->e820.e[3].addr + f->e820.e[3].size, MEM_SIZE);
    struct e820_map big;
    e820_build(5ULL << 30, 0xc0000000ULL, &big);
    assert_int_equal(big.e[big.n - 1].addr, 0x100000000ULL);
    assert_int_equal(big.e[big.n - 1].size, (5ULL << 30) - 0xc0000000ULL);
}

static void test_bzimage_boot_params(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *img = make_bzimage(16, NULL, &len);
    write_file(f->path, img, len);
    struct boot_request req = { .kernel_path = f->path, .cmdline = "console=ttyS0 quiet", .mem_size = MEM_SIZE,
                                .rsdp_addr = 0xe0000, .e820 = &f->e820 };
    struct boot_result res;
    struct berth_error err = { 0 };
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), 0);
    assert_int_equal(res.protocol, BOOT_PROTO_LINUX);
    assert_int_equal(res.entry.mode, BOOT_CPU_LONG64);
    assert_int_equal(res.entry.rip, 0x1000200);
    assert_int_equal(res.entry.rsi, BOOT_ZERO_PAGE_ADDR);
    assert_memory_equal(f->ram + 0x1000000, "KERNEL64", 8);
    const uint8_t *zp = f->ram + BOOT_ZERO_PAGE_ADDR;
    assert_memory_equal(zp + 0x202, "HdrS", 4);
    assert_int_equal(zp[BZ_TYPE_OF_LOADER], 0xff);
    assert_true(zp[BZ_LOADFLAGS] & BZ_CAN_USE_HEAP);
    assert_int_equal(rd32(zp + BZ_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
    assert_string_equal((const char *) f->ram + BOOT_CMDLINE_ADDR, "console=ttyS0 quiet");
    assert_int_equal(rd64(zp + BZ_ACPI_RSDP_ADDR), 0xe0000);
    assert_int_equal(zp[BZ_E820_ENTRIES], 4);
    assert_int_equal(rd64(zp + BZ_E820_TABLE + 3 * 20), 0x100000);
    assert_int_equal(rd32(zp + BZ_E820_TABLE + 3 * 20 + 16), E820_RAM);
    /* Page tables identity-map with 2 MiB pages; the GDT has the boot protocol's selectors. */
    uint64_t pd1;
    memcpy(&pd1, f->ram + BOOT_PD_ADDR + 8, 8);
    assert_int_equal(pd1, 0x200000 | 0x83);
    uint64_t gdt[BOOT_GDT_ENTRIES];
    memcpy(gdt, f->ram + BOOT_GDT_ADDR, sizeof(gdt));
    struct boot_segment cs = boot_gdt_decode(gdt[BOOT_SEL_CODE64 >> 3]);
    assert_int_equal(cs.l, 1);
    assert_int_equal(cs.type, 0xb);
    assert_int_equal(cs.limit, 0xffffffff);
    free(img);
}

static void test_bzimage_initrd_and_limits(void **state)
{
    struct fixture *f = *state;
    size_t len;
    uint8_t *img = make_bzimage(16, NULL, &len);
    write_file(f->path, img, len);
    char initrd[] = "/tmp/berth-initrd-XXXXXX";
    int fd = mkstemp(initrd);
    assert_int_equal(ftruncate(fd, 3 << 20), 0);
    close(fd);
    struct boot_request req = { .kernel_path = f->path, .initrd_path = initrd, .mem_size = MEM_SIZE, .e820 = &f->e820 };
    struct boot_result res;
    struct berth_error err = { 0 };
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), 0);
    assert_int_equal(res.initrd_size, 3 << 20);
    assert_true(res.initrd_start >= 0x1400000);
    assert_true(res.initrd_start + res.initrd_size <= MEM_SIZE);
    assert_int_equal(rd32(f->ram + BOOT_ZERO_PAGE_ADDR + BZ_RAMDISK_IMAGE), res.initrd_start);
    /* An initrd that cannot fit above the kernel is a clear error. */
    fd = open(initrd, O_WRONLY);
    assert_int_equal(ftruncate(fd, 60 << 20), 0);
    close(fd);
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), -E2BIG);
    assert_non_null(strstr(err.msg, "does not fit"));
    unlink(initrd);
    /* Too long a command line for the kernel's cmdline_size. */
    char *longcmd = malloc(4000);
    memset(longcmd, 'x', 3999);
    longcmd[3999] = 0;
    struct boot_request r2 = { .kernel_path = f->path, .cmdline = longcmd, .mem_size = MEM_SIZE, .e820 = &f->e820 };
    berth_error_clear(&err);
    assert_int_equal(boot_load(&f->mem, &r2, &res, &err), -E2BIG);
    assert_non_null(strstr(err.msg, "cmdline"));
    free(longcmd);
    free(img);
}

static void test_corrupt_kernels(void **state)
{
    struct fixture *f = *state;
    struct boot_request req = { .kernel_path = f->path, .mem_size = MEM_SIZE, .e820 = &f->e820 };
    struct boot_result res;
    struct berth_error err = { 0 };
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t) (i * 7);
    write_file(f->path, junk, sizeof(junk));
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), -ENOEXEC);
    assert_non_null(strstr(err.msg, "not a bzImage, ELF or multiboot image"));
    /* ELF header with program headers pointing past the end. */
    Elf64_Ehdr eh = { .e_ident = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT }, .e_type = ET_EXEC,
                      .e_machine = EM_X86_64, .e_phoff = 1 << 20, .e_phnum = 1, .e_phentsize = sizeof(Elf64_Phdr),
                      .e_ehsize = sizeof(Elf64_Ehdr) };
    memcpy(junk, &eh, sizeof(eh));
    write_file(f->path, junk, sizeof(junk));
    berth_error_clear(&err);
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "corrupt ELF"));
    berth_error_clear(&err);
    req.kernel_path = "/nonexistent/vmlinux";
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/vmlinux"));
}

/* An ELF64 with one PT_LOAD at 1 MiB and, if pvh, a Xen PHYS32_ENTRY note. */
static size_t make_elf(uint8_t *out, bool pvh, uint64_t paddr)
{
    memset(out, 0, 8192);
    Elf64_Ehdr eh = { .e_ident = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT }, .e_type = ET_EXEC,
                      .e_machine = EM_X86_64, .e_entry = paddr + 0x10, .e_phoff = sizeof(Elf64_Ehdr),
                      .e_phnum = pvh ? 2 : 1, .e_phentsize = sizeof(Elf64_Phdr), .e_ehsize = sizeof(Elf64_Ehdr) };
    memcpy(out, &eh, sizeof(eh));
    Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = 4096, .p_paddr = paddr, .p_vaddr = paddr, .p_filesz = 16,
                        .p_memsz = 8192 };
    memcpy(out + sizeof(eh), &load, sizeof(load));
    memcpy(out + 4096, "GUESTCODE", 9);
    if (pvh) {
        Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = 1024, .p_filesz = 20 };
        memcpy(out + sizeof(eh) + sizeof(load), &note, sizeof(note));
        uint32_t n[3] = { 4, 4, 18 };
        memcpy(out + 1024, n, 12);
        memcpy(out + 1036, "Xen", 4);
        uint32_t entry = (uint32_t) paddr + 0x20;
        memcpy(out + 1040, &entry, 4);
    }
    return 4096 + 16;
}

static void test_pvh_start_info(void **state)
{
    struct fixture *f = *state;
    uint8_t img[8192];
    size_t len = make_elf(img, true, 0x100000);
    write_file(f->path, img, len);
    struct boot_request req = { .kernel_path = f->path, .cmdline = "earlyprintk=ttyS0", .mem_size = MEM_SIZE,
                                .rsdp_addr = 0xe0000, .e820 = &f->e820 };
    struct boot_result res;
    struct berth_error err = { 0 };
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), 0);
    assert_int_equal(res.protocol, BOOT_PROTO_PVH);
    assert_int_equal(res.entry.mode, BOOT_CPU_PROT32);
    assert_int_equal(res.entry.rip, 0x100020);
    assert_int_equal(res.entry.rbx, BOOT_INFO_ADDR);
    assert_memory_equal(f->ram + 0x100000, "GUESTCODE", 9);
    struct hvm_start_info si;
    memcpy(&si, f->ram + BOOT_INFO_ADDR, sizeof(si));
    assert_int_equal(si.magic, HVM_START_MAGIC);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.rsdp_paddr, 0xe0000);
    assert_int_equal(si.memmap_entries, 4);
    assert_string_equal((const char *) f->ram + si.cmdline_paddr, "earlyprintk=ttyS0");
    struct hvm_memmap_table_entry m;
    memcpy(&m, f->ram + si.memmap_paddr + 3 * sizeof(m), sizeof(m));
    assert_int_equal(m.addr, 0x100000);
    assert_int_equal(m.type, 1);

    /* Plain ELF64: long mode at e_entry. */
    len = make_elf(img, false, 0x200000);
    write_file(f->path, img, len);
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), 0);
    assert_int_equal(res.protocol, BOOT_PROTO_ELF);
    assert_int_equal(res.entry.mode, BOOT_CPU_LONG64);
    assert_int_equal(res.entry.rip, 0x200010);

    /* A segment below 1 MiB would overwrite boot structures. */
    len = make_elf(img, false, 0x8000);
    write_file(f->path, img, len);
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "below 1 MiB"));
}

static void test_multiboot_kludge(void **state)
{
    struct fixture *f = *state;
    uint8_t img[4096] = { 0 };
    uint32_t hdr[8] = { 0x1badb002, 0x00010002, 0, 0x100040, 0x100000, 0x100800, 0x102000, 0x100100 };
    hdr[2] = -(hdr[0] + hdr[1]);
    memcpy(img + 0x40, hdr, sizeof(hdr));
    memcpy(img + 0x100, "ENTRY", 5);
    write_file(f->path, img, sizeof(img));
    struct boot_request req = { .kernel_path = f->path, .cmdline = "mb", .mem_size = MEM_SIZE, .e820 = &f->e820 };
    struct boot_result res;
    struct berth_error err = { 0 };
    assert_int_equal(boot_load(&f->mem, &req, &res, &err), 0);
    assert_int_equal(res.protocol, BOOT_PROTO_MULTIBOOT);
    assert_int_equal(res.entry.rip, 0x100100);
    assert_int_equal(res.entry.rax, 0x2badb002);
    assert_memory_equal(f->ram + 0x100100, "ENTRY", 5);
    uint32_t info[13];
    memcpy(info, f->ram + BOOT_INFO_ADDR, sizeof(info));
    assert_true(info[0] & (1 << 6));
    assert_int_equal(info[1], 639);
    assert_string_equal((const char *) f->ram + info[4], "mb");
    assert_int_equal(info[11], 4 * 24);
}

static void test_cpuid_filter(void **state)
{
    struct cpuid_table *t = calloc(1, sizeof(*t));
    t->e[t->n++] = (struct cpuid_entry){ .function = 1, .ecx = CPUID_1_ECX_CX16 | CPUID_1_ECX_XSAVE | CPUID_1_ECX_AVX,
                                         .ebx = 0xff00ffff };
    t->e[t->n++] = (struct cpuid_entry){ .function = 0xb, .index = 1 };
    t->e[t->n++] = (struct cpuid_entry){ .function = 0xd, .eax = 7 };
    struct cpuid_table *copy = calloc(1, sizeof(*copy));
    *copy = *t;
    struct cpuid_filter fl = { .vcpu_index = 2, .n_vcpus = 4, .mask_unemulated = true };
    cpuid_filter_apply(t, &fl);
    struct cpuid_entry *l1 = cpuid_find(t, 1, 0);
    assert_int_equal(l1->ebx >> 24, 2);
    assert_int_equal((l1->ebx >> 16) & 0xff, 4);
    assert_int_equal(l1->ebx & 0xffff, 0xffff);
    assert_true(l1->ecx & CPUID_1_ECX_HYPERVISOR);
    assert_false(l1->ecx & (CPUID_1_ECX_CX16 | CPUID_1_ECX_XSAVE | CPUID_1_ECX_AVX));
    assert_true(l1->edx & CPUID_1_EDX_HTT);
    struct cpuid_entry *b = cpuid_find(t, 0xb, 1);
    assert_int_equal(b->edx, 2);
    assert_int_equal(b->ebx, 4);
    assert_int_equal(b->eax, 2);
    assert_int_equal(cpuid_find(t, 0xd, 0)->eax, 0);
    /* On real hardware nothing is masked. */
    struct cpuid_filter hw = { .vcpu_index = 0, .n_vcpus = 1, .mask_unemulated = false };
    cpuid_filter_apply(copy, &hw);
    assert_true(cpuid_find(copy, 1, 0)->ecx & CPUID_1_ECX_CX16);
    assert_false(cpuid_find(copy, 1, 0)->edx & CPUID_1_EDX_HTT);
    assert_int_equal(cpuid_find(copy, 0xd, 0)->eax, 7);
    free(t);
    free(copy);
}

static void check_extract(uint8_t *payload, size_t plen, const uint8_t *expect, size_t elen)
{
    size_t len;
    uint8_t *img = make_bzimage(plen, payload, &len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    struct berth_error err = { 0 };
    assert_int_equal(boot_extract_vmlinux(img, len, &out, &out_len, &err), 0);
    assert_int_equal(out_len, elen);
    assert_memory_equal(out, expect, elen);
    free(out);
    /* Truncated payload: an error, never a crash. */
    uint8_t *bad = make_bzimage(plen / 2, payload, &len);
    berth_error_clear(&err);
    assert_true(boot_extract_vmlinux(bad, len, &out, &out_len, &err) < 0);
    free(bad);
    free(img);
}

static void test_extract_vmlinux(void **state)
{
    uint8_t elf[20000];
    for (size_t i = 0; i < sizeof(elf); i++)
        elf[i] = (uint8_t) (i % 251);
    memcpy(elf, "\x7f" "ELF", 4);
    uint8_t comp[40000];
    /* gzip */
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = elf;
    z.avail_in = sizeof(elf);
    z.next_out = comp;
    z.avail_out = sizeof(comp);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t glen = z.total_out;
    deflateEnd(&z);
    check_extract(comp, glen, elf, sizeof(elf));
    /* xz */
    size_t xlen = 0;
    assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, elf, sizeof(elf), comp, &xlen, sizeof(comp)),
                     LZMA_OK);
    check_extract(comp, xlen, elf, sizeof(elf));
    /* zstd */
    size_t zlen = ZSTD_compress(comp, sizeof(comp), elf, sizeof(elf), 3);
    assert_false(ZSTD_isError(zlen));
    check_extract(comp, zlen, elf, sizeof(elf));
    /* lz4 legacy frame: magic, block size, block, then the uncompressed size trailer. */
    uint32_t magic = 0x184c2102;
    memcpy(comp, &magic, 4);
    int blen = LZ4_compress_default((const char *) elf, (char *) comp + 8, (int) sizeof(elf), (int) sizeof(comp) - 12);
    assert_true(blen > 0);
    uint32_t b32 = (uint32_t) blen, usize = sizeof(elf);
    memcpy(comp + 4, &b32, 4);
    memcpy(comp + 8 + blen, &usize, 4);
    check_extract(comp, 12 + (size_t) blen, elf, sizeof(elf));
    /* Not ELF inside. */
    elf[0] = 0;
    zlen = ZSTD_compress(comp, sizeof(comp), elf, sizeof(elf), 3);
    size_t len;
    uint8_t *img = make_bzimage(zlen, comp, &len);
    uint8_t *out = NULL;
    size_t out_len;
    struct berth_error err = { 0 };
    assert_int_equal(boot_extract_vmlinux(img, len, &out, &out_len, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not an ELF"));
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_e820_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_boot_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_initrd_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_kernels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pvh_start_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiboot_kludge, setup, teardown),
        cmocka_unit_test(test_cpuid_filter),
        cmocka_unit_test(test_extract_vmlinux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
