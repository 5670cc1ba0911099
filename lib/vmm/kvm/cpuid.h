/* The CPUID table a vCPU sees: KVM_GET_SUPPORTED_CPUID filtered for what the guest must see (its
 * own APIC ID and topology, the hypervisor bit) and must not (features this host's KVM cannot
 * emulate in guest ring 0). Pure functions over the table, so they are unit-tested without KVM. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define CPUID_MAX_ENTRIES 256

struct cpuid_entry {
    uint32_t function, index, flags;
    uint32_t eax, ebx, ecx, edx;
};

struct cpuid_table {
    uint32_t n;
    struct cpuid_entry e[CPUID_MAX_ENTRIES];
};

struct cpuid_filter {
    uint32_t vcpu_index;   /* becomes the initial (x2)APIC ID */
    uint32_t n_vcpus;
    /* Mask cmpxchg16b and the XSAVE family: the nested paravirtual KVM cannot emulate
     * `lock cmpxchg16b` or `xrstor` in guest ring 0. */
    bool mask_unemulated;
};

/* Bits the filter touches, named for the tests. */
#define CPUID_1_ECX_CX16 (1u << 13)
#define CPUID_1_ECX_XSAVE (1u << 26)
#define CPUID_1_ECX_OSXSAVE (1u << 27)
#define CPUID_1_ECX_AVX (1u << 28)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

/* Rewrites t in place for one vCPU. */
void cpuid_filter_apply(struct cpuid_table *t, const struct cpuid_filter *f);

/* The entry for (function, index), or NULL. */
struct cpuid_entry *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index);

/* Reads KVM_GET_SUPPORTED_CPUID from the /dev/kvm fd. */
int cpuid_get_supported(int kvm_fd, struct cpuid_table *ret, struct berth_error *err);
