/* Kernel loading: probes the image (bzImage, ELF with a PVH note, multiboot v1, plain ELF),
 * copies it, the initrd and the command line into guest memory, writes the protocol's boot
 * structures (boot_params, hvm_start_info, multiboot_info), the GDT and page tables, and says
 * how the boot CPU must enter. Everything in the image is untrusted and bounds-checked. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/entry.h"
#include "vmm/kvm/guest-memory.h"

enum boot_protocol {
    BOOT_PROTO_NONE,
    BOOT_PROTO_LINUX,     /* bzImage, 64-bit boot protocol */
    BOOT_PROTO_PVH,       /* ELF with XEN_ELFNOTE_PHYS32_ENTRY */
    BOOT_PROTO_MULTIBOOT, /* multiboot v1 */
    BOOT_PROTO_ELF,       /* ELF entered at e_entry (64-bit: long mode; 32-bit: protected mode) */
};

struct boot_request {
    const char *kernel_path;
    const char *initrd_path; /* NULL: none */
    const char *cmdline;     /* NULL: empty */
    uint64_t mem_size;
    uint64_t rsdp_addr;      /* 0: no ACPI */
    const struct e820_map *e820;
};

struct boot_result {
    enum boot_protocol protocol;
    struct boot_entry entry;
    uint64_t kernel_start, kernel_end;
    uint64_t initrd_start, initrd_size;
};

/* Largest kernel or initrd file read (before any allocation). */
#define BOOT_MAX_IMAGE_SIZE (1024ULL << 20)

int boot_load(struct guest_memory *mem, const struct boot_request *req, struct boot_result *ret,
              struct berth_error *err);

/* Image-level parsers, separated so unit tests and fuzzers feed them buffers. Each returns
 * -ENOEXEC when the image is not of its kind, another -errno when it is but is malformed. */
int boot_load_bzimage(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                      struct boot_result *ret, struct berth_error *err);
int boot_load_elf(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                  struct boot_result *ret, struct berth_error *err);
int boot_load_multiboot(struct guest_memory *mem, const uint8_t *img, size_t len, const struct boot_request *req,
                        struct boot_result *ret, struct berth_error *err);

/* Finds the PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) in an ELF image: 1 and *ret_entry if found, 0 if
 * not, -errno if the ELF is malformed. */
int boot_elf_pvh_entry(const uint8_t *img, size_t len, uint64_t *ret_entry);

/* Places the initrd at the top of RAM below limit and above min_addr; fills ret->initrd_*. */
int boot_place_initrd(struct guest_memory *mem, const struct boot_request *req, uint64_t min_addr, uint64_t limit,
                      struct boot_result *ret, struct berth_error *err);

/* Writes the command line (NUL-terminated, at most max bytes including the NUL) at
 * BOOT_CMDLINE_ADDR. */
int boot_write_cmdline(struct guest_memory *mem, const char *cmdline, size_t max, struct berth_error *err);

const char *boot_protocol_name(enum boot_protocol p);

/* Extracts the vmlinux (ELF) from a bzImage: finds the payload through the setup header's
 * payload_offset/payload_length and decompresses it (gzip, xz, lzma, zstd, lz4). */
int boot_extract_vmlinux(const uint8_t *img, size_t len, uint8_t **ret_data, size_t *ret_len, struct berth_error *err);
