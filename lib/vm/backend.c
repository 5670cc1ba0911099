#include "vm/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/process.h"
#include "vmm/kvm/vm.h"

bool vm_kvm_is_fast(char *why, size_t cap)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "/dev/kvm is not usable (%s)", strerror(errno));
        return false;
    }
    close(fd);
    if (kvm_is_nested_pvm()) {
        snprintf(why, cap, "/dev/kvm is the nested paravirtual kvm_pvm implementation, which emulates guest kernel "
                           "code and cannot boot a stock kernel");
        return false;
    }
    snprintf(why, cap, "/dev/kvm is hardware-backed");
    return true;
}

int vm_backend_choose(const char *name, const struct vm_backend_ops **ret, char *why, size_t cap,
                      struct berth_error *err)
{
    if (!name || !strcmp(name, "auto")) {
        char kvm_why[256];
        char vmm[PATH_MAX];
        if (vm_kvm_is_fast(kvm_why, sizeof(kvm_why)) && proc_find_sibling_binary("berth-vmm", vmm, sizeof(vmm)) == 0) {
            snprintf(why, cap, "auto: %s", kvm_why);
            *ret = &vm_backend_berth_vmm;
        } else {
            snprintf(why, cap, "auto: %s", kvm_why);
            *ret = &vm_backend_qemu;
        }
        return 0;
    }
    if (!strcmp(name, "qemu")) {
        snprintf(why, cap, "asked for");
        *ret = &vm_backend_qemu;
        return 0;
    }
    if (!strcmp(name, "berth-vmm")) {
        snprintf(why, cap, "asked for");
        *ret = &vm_backend_berth_vmm;
        return 0;
    }
    return berth_error_set(err, -EINVAL, "unknown VM backend '%s' (expected auto, berth-vmm or qemu)", name);
}
