/* A KVM virtual machine: the /dev/kvm and VM fds, guest RAM (memfd-backed so snapshots and clones
 * can map the same pages later), the in-kernel irqchip and PIT, and the MMIO / port-I/O buses the
 * vCPUs dispatch their exits to. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "vmm/devices/bus.h"
#include "vmm/kvm/guest-memory.h"

struct kvm_run;

struct kvm_vm {
    int kvm_fd;
    int vm_fd;
    int mem_fd;            /* memfd holding all guest RAM, -1 when anonymous */
    uint8_t *mem_base;     /* one host mapping of mem_size bytes */
    uint64_t mem_size;     /* guest RAM in bytes */
    struct guest_memory mem;
    struct bus mmio;
    struct bus pio;
    int run_size;          /* KVM_GET_VCPU_MMAP_SIZE */
    bool nested_pvm;       /* the kvm_pvm paravirtual implementation: ring 0 is emulated */
    uint32_t tsc_khz;
    int n_slots;
};

/* Where RAM ends below 4 GiB: the rest of the address space up to 4 GiB holds device MMIO. */
#define KVM_VM_LOW_RAM_END 0xC0000000ULL
#define KVM_VM_HIGH_RAM_START 0x100000000ULL
/* Upper bound on --memory, before anything is allocated. */
#define KVM_VM_MAX_MEMORY_MIB (1024ULL * 1024)

/* Opens /dev/kvm, checks the API version and the capabilities berth needs, creates the VM with
 * its TSS/identity-map addresses, in-kernel irqchip (PIC + IOAPIC + LAPICs) and PIT. */
int kvm_vm_create(struct kvm_vm **ret, struct berth_error *err);

/* Allocates mem_size bytes of guest RAM (memfd when use_memfd, else anonymous) and maps it at
 * guest physical 0 (and above 4 GiB for what does not fit below the MMIO hole). */
int kvm_vm_setup_memory(struct kvm_vm *vm, uint64_t mem_size, bool use_memfd, struct berth_error *err);

/* Sets a level on an interrupt line of the in-kernel irqchip. */
int kvm_vm_set_irq(struct kvm_vm *vm, uint32_t gsi, int level);

/* Registers eventfd as an irqfd for gsi (KVM raises an edge on each write). */
int kvm_vm_add_irqfd(struct kvm_vm *vm, int eventfd, uint32_t gsi);
int kvm_vm_remove_irqfd(struct kvm_vm *vm, int eventfd, uint32_t gsi);

/* Registers eventfd to be signalled on a guest write of len bytes at addr (MMIO or port I/O);
 * datamatch >= 0 restricts it to writes of that value. */
int kvm_vm_add_ioeventfd(struct kvm_vm *vm, int eventfd, uint64_t addr, uint32_t len, bool pio, int64_t datamatch);

/* True when /dev/kvm is the paravirtual nested implementation (kvm_pvm), where guest ring-0 code
 * is emulated and stock Linux cannot boot. */
bool kvm_is_nested_pvm(void);

void kvm_vm_free(struct kvm_vm *vm);
DEFINE_CLEANUP_FUNC(struct kvm_vm, kvm_vm_free)
