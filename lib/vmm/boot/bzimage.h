/* The bzImage setup header (boot protocol 2.12+) and the boot_params offsets berth writes. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BZ_HEADER_MAGIC_OFF 0x202
#define BZ_ACPI_RSDP_ADDR 0x070
#define BZ_E820_ENTRIES 0x1e8
#define BZ_TYPE_OF_LOADER 0x210
#define BZ_LOADFLAGS 0x211
#define BZ_CODE32_START 0x214
#define BZ_RAMDISK_IMAGE 0x218
#define BZ_RAMDISK_SIZE 0x21c
#define BZ_HEAP_END_PTR 0x224
#define BZ_CMD_LINE_PTR 0x228
#define BZ_E820_TABLE 0x2d0

#define BZ_LOADED_HIGH 0x01
#define BZ_CAN_USE_HEAP 0x80
#define BZ_XLF_KERNEL_64 0x01

struct bzimage_header {
    uint16_t version;
    uint8_t setup_sects;
    uint8_t loadflags;
    uint8_t relocatable;
    uint16_t xloadflags;
    uint32_t initrd_addr_max;
    uint32_t kernel_alignment;
    uint32_t cmdline_size;
    uint32_t payload_offset; /* from the start of the protected-mode kernel */
    uint32_t payload_length;
    uint64_t pref_address;
    uint32_t init_size;
    size_t header_end;       /* end of the setup header in the file */
    size_t kernel_offset;    /* where the protected-mode kernel starts in the file */
    size_t kernel_size;
};

/* -ENOEXEC: not a bzImage; -EINVAL: a corrupt one. */
int bzimage_parse_header(const uint8_t *img, size_t len, struct bzimage_header *ret);

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void wr16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
