#include "vm/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
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

int vm_find_sibling_binary(const char *name, char *buf, size_t cap)
{
    /* berth-agent -> BERTH_AGENT, berth-vmm -> BERTH_VMM */
    char env[64];
    snprintf(env, sizeof(env), "BERTH_%s", strncmp(name, "berth-", 6) ? name : name + 6);
    for (char *p = env; *p; p++)
        *p = *p == '-' ? '_' : (char) (*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    const char *e = getenv(env);
    if (e && *e) {
        snprintf(buf, cap, "%s", e);
        return access(buf, X_OK) == 0 ? 0 : -ENOENT;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return -errno;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    /* Installed side by side, or the build tree's src/<name>/<name>. */
    snprintf(buf, cap, "%s/%s", self, name);
    if (access(buf, X_OK) == 0)
        return 0;
    snprintf(buf, cap, "%s/../%s/%s", self, name, name);
    if (access(buf, X_OK) == 0)
        return 0;
    return -ENOENT;
}

int vm_backend_choose(const char *name, const struct vm_backend_ops **ret, char *why, size_t cap,
                      struct berth_error *err)
{
    if (!name || !strcmp(name, "auto")) {
        char kvm_why[256];
        char vmm[PATH_MAX];
        if (vm_kvm_is_fast(kvm_why, sizeof(kvm_why)) && vm_find_sibling_binary("berth-vmm", vmm, sizeof(vmm)) == 0) {
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
