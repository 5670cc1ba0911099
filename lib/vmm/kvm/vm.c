#include "vmm/kvm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

/* Just below the 4 GiB boundary, away from the IOAPIC (0xfec00000) and LAPIC (0xfee00000). */
#define KVM_TSS_ADDR 0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

bool kvm_is_nested_pvm(void)
{
    return fs_exists("/sys/module/kvm_pvm");
}

static int kvm_require(int kvm_fd, int cap, const char *name, struct berth_error *err)
{
    int r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);
    if (r <= 0)
        return berth_error_set(err, -ENOTSUP, "/dev/kvm: missing capability %s", name);
    return 0;
}

int kvm_vm_create(struct kvm_vm **ret, struct berth_error *err)
{
    _cleanup_(kvm_vm_freep) struct kvm_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->vm_fd = vm->mem_fd = -1;
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return berth_error_errno(err, -errno, "/dev/kvm");
    int v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION)
        return berth_error_set(err, -ENOTSUP, "/dev/kvm: API version %d, expected %d", v, KVM_API_VERSION);
    static const struct {
        int cap;
        const char *name;
    } needed[] = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },     { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" }, { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" }, { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },         { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(needed); i++) {
        int r = kvm_require(vm->kvm_fd, needed[i].cap, needed[i].name, err);
        if (r < 0)
            return r;
    }
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->run_size < (int) sizeof(struct kvm_run))
        return berth_error_errno(err, vm->run_size < 0 ? -errno : -EINVAL, "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE");
    vm->nested_pvm = kvm_is_nested_pvm();

    do
        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    while (vm->vm_fd < 0 && errno == EINTR);
    if (vm->vm_fd < 0)
        return berth_error_errno(err, -errno, "/dev/kvm: KVM_CREATE_VM");
    if (fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC) < 0)
        return berth_error_errno(err, -errno, "KVM VM fd");
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
        return berth_error_errno(err, -errno, "KVM_SET_TSS_ADDR");
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        return berth_error_errno(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return berth_error_errno(err, -errno, "KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return berth_error_errno(err, -errno, "KVM_CREATE_PIT2");
    *ret = TAKE_PTR(vm);
    return 0;
}

static int kvm_vm_add_slot(struct kvm_vm *vm, uint64_t gpa, uint64_t size, uint8_t *hva, struct berth_error *err)
{
    struct kvm_userspace_memory_region region = {
        .slot = vm->n_slots,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t) (uintptr_t) hva,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return berth_error_errno(err, -errno, "KVM_SET_USER_MEMORY_REGION at 0x%llx (%llu MiB)",
                                 (unsigned long long) gpa, (unsigned long long) (size >> 20));
    int r = guest_memory_add_region(&vm->mem, gpa, size, hva);
    if (r < 0)
        return berth_error_errno(err, r, "guest memory region at 0x%llx", (unsigned long long) gpa);
    vm->n_slots++;
    return 0;
}

int kvm_vm_setup_memory(struct kvm_vm *vm, uint64_t mem_size, bool use_memfd, struct berth_error *err)
{
    if (mem_size == 0 || (mem_size & 0xfffff) || mem_size > (KVM_VM_MAX_MEMORY_MIB << 20))
        return berth_error_set(err, -EINVAL, "memory: %llu bytes is not a whole number of MiB between 1 and %llu MiB",
                               (unsigned long long) mem_size, (unsigned long long) KVM_VM_MAX_MEMORY_MIB);
    if (vm->mem_base)
        return berth_error_set(err, -EBUSY, "memory: already set up");
    int flags = MAP_SHARED | MAP_NORESERVE;
    _cleanup_close_ int fd = -1;
    if (use_memfd) {
        fd = memfd_create("berth-guest-ram", MFD_CLOEXEC);
        if (fd < 0)
            return berth_error_errno(err, -errno, "memfd_create for guest memory");
        if (ftruncate(fd, (off_t) mem_size) < 0)
            return berth_error_errno(err, -errno, "guest memory: ftruncate to %llu MiB", (unsigned long long) (mem_size >> 20));
    } else {
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    }
    uint8_t *base = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (base == MAP_FAILED)
        return berth_error_errno(err, -errno, "guest memory: mmap of %llu MiB", (unsigned long long) (mem_size >> 20));
    /* Guest memory must not end up in a core dump of the monitor, nor be merged behind its back. */
    (void) madvise(base, mem_size, MADV_DONTDUMP);
    vm->mem_base = base;
    vm->mem_size = mem_size;
    vm->mem_fd = TAKE_FD(fd);

    uint64_t low = mem_size < KVM_VM_LOW_RAM_END ? mem_size : KVM_VM_LOW_RAM_END;
    int r = kvm_vm_add_slot(vm, 0, low, base, err);
    if (r < 0)
        return r;
    if (mem_size > low) {
        r = kvm_vm_add_slot(vm, KVM_VM_HIGH_RAM_START, mem_size - low, base + low, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int kvm_vm_set_irq(struct kvm_vm *vm, uint32_t gsi, int level)
{
    struct kvm_irq_level irq = { .irq = gsi, .level = level };
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int kvm_vm_add_irqfd(struct kvm_vm *vm, int eventfd, uint32_t gsi)
{
    struct kvm_irqfd irqfd = { .fd = (uint32_t) eventfd, .gsi = gsi };
    return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int kvm_vm_remove_irqfd(struct kvm_vm *vm, int eventfd, uint32_t gsi)
{
    struct kvm_irqfd irqfd = { .fd = (uint32_t) eventfd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
    return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int kvm_vm_add_ioeventfd(struct kvm_vm *vm, int eventfd, uint64_t addr, uint32_t len, bool pio, int64_t datamatch)
{
    struct kvm_ioeventfd io = {
        .addr = addr,
        .len = len,
        .fd = eventfd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (datamatch >= 0 ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
        .datamatch = datamatch >= 0 ? (uint64_t) datamatch : 0,
    };
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

void kvm_vm_free(struct kvm_vm *vm)
{
    if (!vm)
        return;
    if (vm->mem_base)
        munmap(vm->mem_base, vm->mem_size);
    if (vm->mem_fd >= 0)
        close(vm->mem_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    free(vm);
}
