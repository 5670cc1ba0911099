#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/gdt.h"

const char *boot_protocol_name(enum boot_protocol p)
{
    switch (p) {
    case BOOT_PROTO_LINUX:
        return "linux";
    case BOOT_PROTO_PVH:
        return "pvh";
    case BOOT_PROTO_MULTIBOOT:
        return "multiboot";
    case BOOT_PROTO_ELF:
        return "elf";
    case BOOT_PROTO_NONE:
        break;
    }
    return "none";
}

int boot_write_cmdline(struct guest_memory *mem, const char *cmdline, size_t max, struct berth_error *err)
{
    const char *s = cmdline ? cmdline : "";
    size_t n = strlen(s) + 1;
    if (max > BOOT_CMDLINE_MAX)
        max = BOOT_CMDLINE_MAX;
    if (n > max)
        return berth_error_set(err, -E2BIG, "cmdline: %zu bytes, the kernel accepts at most %zu", n - 1, max - 1);
    if (guest_memory_write(mem, BOOT_CMDLINE_ADDR, s, n) < 0)
        return berth_error_set(err, -EFAULT, "cmdline: no guest memory at 0x%llx", BOOT_CMDLINE_ADDR);
    return 0;
}

int boot_place_initrd(struct guest_memory *mem, const struct boot_request *req, uint64_t min_addr, uint64_t limit,
                      struct boot_result *ret, struct berth_error *err)
{
    if (!req->initrd_path)
        return 0;
    _cleanup_close_ int fd = open(req->initrd_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "initrd %s", req->initrd_path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return berth_error_errno(err, -errno, "initrd %s", req->initrd_path);
    if (!S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "initrd %s: not a regular file", req->initrd_path);
    uint64_t size = (uint64_t) st.st_size;
    uint64_t top = e820_low_ram_end(req->e820);
    if (limit && top > limit)
        top = limit;
    if (size == 0)
        return berth_error_set(err, -EINVAL, "initrd %s: empty file", req->initrd_path);
    if (size > top || ((top - size) & ~0xfffULL) < min_addr)
        return berth_error_set(err, -E2BIG, "initrd %s: %llu MiB does not fit in guest memory above the kernel "
                                            "(%llu MiB free); raise --memory",
                               req->initrd_path, (unsigned long long) ((size + (1 << 20) - 1) >> 20),
                               (unsigned long long) (top > min_addr ? (top - min_addr) >> 20 : 0));
    uint64_t addr = (top - size) & ~0xfffULL;
    uint8_t *dst = guest_memory_ptr(mem, addr, size);
    if (!dst)
        return berth_error_set(err, -EFAULT, "initrd %s: no guest memory at 0x%llx", req->initrd_path,
                               (unsigned long long) addr);
    for (uint64_t off = 0; off < size;) {
        ssize_t n = pread(fd, dst + off, size - off, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return berth_error_errno(err, n < 0 ? -errno : -EIO, "initrd %s: read", req->initrd_path);
        off += (uint64_t) n;
    }
    ret->initrd_start = addr;
    ret->initrd_size = size;
    return 0;
}

int boot_load(struct guest_memory *mem, const struct boot_request *req, struct boot_result *ret,
              struct berth_error *err)
{
    _cleanup_free_ char *img = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(req->kernel_path, &st) < 0)
        return berth_error_errno(err, -errno, "kernel %s", req->kernel_path);
    if (!S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "kernel %s: not a regular file", req->kernel_path);
    if ((uint64_t) st.st_size > BOOT_MAX_IMAGE_SIZE || (uint64_t) st.st_size > req->mem_size)
        return berth_error_set(err, -E2BIG, "kernel %s: %llu MiB is larger than guest memory or the %llu MiB limit",
                               req->kernel_path, (unsigned long long) (st.st_size >> 20),
                               (unsigned long long) (BOOT_MAX_IMAGE_SIZE >> 20));
    int r = fs_read_file(req->kernel_path, BOOT_MAX_IMAGE_SIZE, &img, &len, err);
    if (r < 0)
        return r;
    if (len < 64)
        return berth_error_set(err, -ENOEXEC, "kernel %s: %zu bytes is too short to be a kernel", req->kernel_path, len);

    struct boot_result res = { 0 };
    const uint8_t *p = (const uint8_t *) img;
    r = boot_load_bzimage(mem, p, len, req, &res, err);
    if (r == -ENOEXEC) {
        uint64_t pvh = 0;
        int has_pvh = boot_elf_pvh_entry(p, len, &pvh);
        if (has_pvh > 0)
            r = boot_load_elf(mem, p, len, req, &res, err);
        else {
            r = boot_load_multiboot(mem, p, len, req, &res, err);
            if (r == -ENOEXEC)
                r = boot_load_elf(mem, p, len, req, &res, err);
        }
    }
    if (r == -ENOEXEC)
        return berth_error_set(err, -ENOEXEC, "kernel %s: not a bzImage, ELF or multiboot image", req->kernel_path);
    if (r < 0)
        return berth_error_prefix(err, r, "kernel %s: ", req->kernel_path);
    if (boot_write_gdt(mem) < 0 || boot_write_page_tables(mem) < 0)
        return berth_error_set(err, -EFAULT, "guest memory too small for the boot page tables");
    *ret = res;
    return 0;
}
