/* The freestanding side of berth's test guests: serial output, the debug-exit port, boot
 * information (PVH or multiboot), a page allocator, MMIO accessors, ring-3 calls and ACPI
 * discovery of virtio-mmio devices. Everything is identity-mapped: physical == virtual.
 * Ring-0 code is slow under nested paravirtual KVM (emulated); do loops inside user_call(). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* ---- port I/O and MMIO ----
 * Port I/O works in both rings: in ring 3 it is emulated by the #GP handler (IOPL is not
 * honoured in ring 3 by every KVM), so it costs a trap; keep it out of hot loops. MMIO works directly in both rings (the pages are user-accessible). */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "d"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "d"(port));
    return v;
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "d"(port));
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "d"(port));
    return v;
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "d"(port));
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "d"(port));
    return v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *) (uintptr_t) addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *) (uintptr_t) addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
    return *(volatile uint8_t *) (uintptr_t) addr;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
    *(volatile uint8_t *) (uintptr_t) addr = v;
}
#define barrier() __asm__ volatile("mfence" ::: "memory")

/* ---- output and exit ---- */
void putc_serial(char c);
void puts_serial(const char *s);
void print_hex(uint64_t v);
void print_dec(uint64_t v);
/* printf subset: %s %d %u %x %lx %llx %c %%. */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the VM with exit status (code << 1) | 1. */
__attribute__((noreturn)) void debug_exit(uint32_t code);

/* ---- boot information ---- */
struct guest_boot {
    int protocol; /* 1 PVH, 2 multiboot */
    const char *cmdline;
    uint64_t rsdp;        /* from PVH start info, else 0 */
    uint64_t mem_top;     /* end of the highest RAM range below 4 GiB */
};
extern struct guest_boot guest_boot;
/* Value of "key=" on the command line, copied into buf; returns buf or NULL. */
const char *cmdline_get(const char *key, char *buf, size_t size);
uint64_t parse_u64(const char *s);

/* ---- memory ---- */
void *alloc_pages(size_t n);   /* zeroed, 4 KiB aligned, never freed */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* ---- rings ---- */
/* Runs fn(arg) in ring 3 and returns its result (in ring 0). */
long user_call(long (*fn)(long), long arg);

/* ---- ACPI ---- */
struct acpi_device {
    char hid[9];
    uint64_t mmio_base;
    uint32_t mmio_size;
    uint32_t irq;
    uint16_t io_base;
};
uint64_t acpi_find_rsdp(void);
/* Signatures of the XSDT's tables, in order (up to max); returns the count, -1 without ACPI. */
int acpi_list_tables(char (*sigs)[5], int max);
/* The table with the given signature (FACP, APIC, DSDT...), or 0. */
uint64_t acpi_find_table(const char *sig);
/* Devices described in the DSDT (_HID + _CRS memory/IO/interrupt resources). */
int acpi_find_devices(struct acpi_device *out, int max);

/* Entry point every guest defines. */
void guest_main(void);
