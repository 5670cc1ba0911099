/* Register state for the boot CPU's first instruction, from a loader's boot_entry. The GDT the
 * segments describe is written to guest memory by boot_write_gdt() (lib/vmm/boot/gdt.c). */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/boot/gdt.h"
#include "vmm/kvm/vcpu.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

static struct kvm_segment seg_from_gdt(uint64_t desc, uint16_t selector)
{
    struct boot_segment s = boot_gdt_decode(desc);
    return (struct kvm_segment){
        .base = s.base,
        .limit = s.limit,
        .selector = selector,
        .type = s.type,
        .present = s.present,
        .dpl = s.dpl,
        .db = s.db,
        .s = s.s,
        .l = s.l,
        .g = s.g,
        .avl = s.avl,
    };
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, struct berth_error *err)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_GET_SREGS", v->index);

    uint64_t gdt[BOOT_GDT_ENTRIES];
    boot_gdt_entries(gdt);
    bool long_mode = entry->mode == BOOT_CPU_LONG64;
    uint16_t cs_sel = long_mode ? BOOT_SEL_CODE64 : BOOT_SEL_CODE32;
    sregs.cs = seg_from_gdt(gdt[cs_sel >> 3], cs_sel);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg_from_gdt(gdt[BOOT_SEL_DATA >> 3], BOOT_SEL_DATA);
    sregs.tr = seg_from_gdt(gdt[BOOT_SEL_TSS >> 3], BOOT_SEL_TSS);
    sregs.gdt.base = BOOT_GDT_ADDR;
    sregs.gdt.limit = sizeof(gdt) - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.cr4 = 0;
    sregs.efer = 0;
    sregs.cr3 = 0;
    if (long_mode) {
        sregs.cr3 = BOOT_PML4_ADDR;
        sregs.cr4 |= CR4_PAE;
        sregs.cr0 |= CR0_PG;
        sregs.efer |= EFER_LME | EFER_LMA;
    }
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_SET_SREGS", v->index);

    struct kvm_regs regs = {
        .rflags = 0x2,
        .rip = entry->rip,
        .rsp = entry->rsp,
        .rbp = entry->rsp,
        .rsi = entry->rsi,
        .rbx = entry->rbx,
        .rax = entry->rax,
    };
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_SET_REGS", v->index);
    return 0;
}
