/* How a vCPU enters the guest: what a loader (bzImage, PVH, multiboot, ELF) asks of the boot CPU.
 * The loaders fill it; lib/vmm/kvm/vcpu-regs.c turns it into KVM register state. */
#pragma once

#include <stdint.h>

enum boot_cpu_mode {
    BOOT_CPU_LONG64, /* 64-bit long mode, identity-mapped paging (Linux 64-bit boot protocol, ELF64) */
    BOOT_CPU_PROT32, /* 32-bit protected mode, paging off (PVH, multiboot) */
};

/* Fixed low-memory layout of the boot structures every loader shares. */
#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_GDT_ENTRIES 5
#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10 /* __BOOT_CS of the Linux boot protocol */
#define BOOT_SEL_DATA 0x18   /* __BOOT_DS */
#define BOOT_SEL_TSS 0x20
#define BOOT_INFO_ADDR 0x1000ULL     /* hvm_start_info or multiboot_info */
#define BOOT_MEMMAP_ADDR 0x2000ULL   /* PVH memmap / multiboot mmap */
#define BOOT_MODLIST_ADDR 0x3000ULL  /* PVH module list (initrd) */
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL
#define BOOT_PML4_ADDR 0x9000ULL
#define BOOT_PDPT_ADDR 0xa000ULL
#define BOOT_PD_ADDR 0xb000ULL       /* four page directories: identity map of the first 4 GiB */
#define BOOT_STACK_TOP 0x8ff00ULL
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0x10000ULL
#define BOOT_ACPI_ADDR 0xe0000ULL    /* ACPI tables, inside the BIOS area Linux scans for the RSDP */
#define BOOT_ACPI_SIZE 0x20000ULL
#define BOOT_EBDA_START 0x9fc00ULL
#define BOOT_HIGH_ADDR 0x100000ULL   /* where kernels load */

struct boot_entry {
    enum boot_cpu_mode mode;
    uint64_t rip;
    uint64_t rsp;
    uint64_t rsi; /* Linux: boot_params */
    uint64_t rbx; /* PVH: hvm_start_info; multiboot: multiboot_info */
    uint64_t rax; /* multiboot magic */
};
