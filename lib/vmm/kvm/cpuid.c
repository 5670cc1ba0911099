#include "vmm/kvm/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/cleanup.h"

struct cpuid_entry *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->e[i].function == function && t->e[i].index == index)
            return &t->e[i];
    return NULL;
}

static uint32_t bits_for(uint32_t n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

/* Leaf 7 features that need XSAVE-managed state (AVX2, AVX-512*, ...). */
#define CPUID_7_EBX_AVX2 (1u << 5)
#define CPUID_7_EBX_AVX512 0xdc230000u /* F, DQ, IFMA, PF, ER, CD, BW, VL */
#define CPUID_7_ECX_AVX512 0x00005842u /* VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ */
#define CPUID_7_ECX_VAES_VPCLMUL (3u << 9)
/* Fast string operations: with them Linux copies and clears with `rep movsb/stosb`, which an
 * emulated ring 0 executes one byte per emulation step. */
#define CPUID_7_EBX_ERMS (1u << 9)
#define CPUID_7_EDX_FSRM (1u << 4)
#define CPUID_1_ECX_FMA (1u << 12)
#define CPUID_1_ECX_F16C (1u << 29)

void cpuid_filter_apply(struct cpuid_table *t, const struct cpuid_filter *f)
{
    uint32_t n = f->n_vcpus ? f->n_vcpus : 1;
    for (uint32_t i = 0; i < t->n; i++) {
        struct cpuid_entry *e = &t->e[i];
        switch (e->function) {
        case 1:
            /* Initial APIC ID and logical processor count; the guest must know it is a guest. */
            e->ebx = (e->ebx & 0x0000ffffu) | (f->vcpu_index << 24) | ((n & 0xff) << 16);
            e->edx = n > 1 ? (e->edx | CPUID_1_EDX_HTT) : (e->edx & ~CPUID_1_EDX_HTT);
            e->ecx |= CPUID_1_ECX_HYPERVISOR;
            if (f->mask_unemulated)
                e->ecx &= ~(CPUID_1_ECX_CX16 | CPUID_1_ECX_XSAVE | CPUID_1_ECX_OSXSAVE | CPUID_1_ECX_AVX |
                            CPUID_1_ECX_FMA | CPUID_1_ECX_F16C);
            break;
        case 4:
            /* Deterministic cache parameters: cores per package share the caches. */
            e->eax = (e->eax & 0x03ffc3ffu) | (((n - 1) & 0x3f) << 26);
            if (((e->eax >> 5) & 7) >= 2)
                e->eax = (e->eax & ~(0xfffu << 14)) | (((n - 1) & 0xfff) << 14);
            break;
        case 6:
            /* No thermal/power management in a microVM. */
            e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 7:
            if (e->index == 0 && f->mask_unemulated) {
                e->ebx &= ~(CPUID_7_EBX_AVX2 | CPUID_7_EBX_AVX512 | CPUID_7_EBX_ERMS);
                e->ecx &= ~(CPUID_7_ECX_AVX512 | CPUID_7_ECX_VAES_VPCLMUL);
                e->edx &= ~CPUID_7_EDX_FSRM;
            }
            break;
        case 0xb:
        case 0x1f:
            /* x2APIC topology: one thread per core, n cores in one package. */
            e->edx = f->vcpu_index;
            if (e->index == 0) {
                e->eax = 0;
                e->ebx = 1;
                e->ecx = (1u << 8) | 0;
            } else if (e->index == 1) {
                e->eax = bits_for(n);
                e->ebx = n;
                e->ecx = (2u << 8) | 1;
            } else {
                e->eax = e->ebx = 0;
                e->ecx = e->index;
            }
            break;
        case 0xd:
            if (f->mask_unemulated)
                e->eax = e->ebx = e->ecx = e->edx = 0;
            break;
        case 0x80000008:
            /* AMD: number of cores - 1 and the APIC ID size. */
            e->ecx = (e->ecx & ~0xf0ffu) | ((n - 1) & 0xff) | (bits_for(n) << 12);
            break;
        case 0x8000001e:
            /* AMD extended APIC ID / compute unit topology. */
            e->eax = f->vcpu_index;
            e->ebx = (e->ebx & ~0xffffu) | (f->vcpu_index & 0xff);
            e->ecx = 0;
            break;
        default:
            break;
        }
    }
    /* Without XSAVE, the OS sees no XCR0-managed state at all. */
    if (f->mask_unemulated) {
        struct cpuid_entry *d = cpuid_find(t, 0xd, 0);
        if (d)
            d->eax = d->ebx = d->ecx = d->edx = 0;
    }
}

int cpuid_get_supported(int kvm_fd, struct cpuid_table *ret, struct berth_error *err)
{
    size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    _cleanup_free_ struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return -ENOMEM;
    c->nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0)
        return berth_error_errno(err, -errno, "KVM_GET_SUPPORTED_CPUID");
    ret->n = c->nent;
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *k = &c->entries[i];
        ret->e[i] = (struct cpuid_entry){ k->function, k->index, k->flags, k->eax, k->ebx, k->ecx, k->edx };
    }
    return 0;
}
