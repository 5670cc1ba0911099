/* Confinement of a berth-vmm process (Firecracker's jailer as the model), entered once every
 * file the VM needs is open and before any vCPU thread exists:
 *   - its own mount namespace, everything below / made private, then chroot into an
 *     (empty) directory: no host path is reachable any more;
 *   - no supplementary groups, an unprivileged uid/gid (all capabilities gone), no_new_privs;
 *   - a seccomp allowlist per thread kind (event loop, vCPU): other system calls fail with EPERM.
 * The cgroup (memory and CPU limits) is set up from outside by the supervising parent. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

struct vmm_jail {
    const char *root; /* chroot directory (must exist) */
    uid_t uid;
    gid_t gid;
};

enum vmm_thread_kind { VMM_THREAD_LOOP, VMM_THREAD_VCPU };

/* Enters the mount namespace and chroot and drops to uid/gid. The calling process must be
 * single-threaded (unshare(CLONE_NEWNS) refuses threads sharing the filesystem context). */
int vmm_jail_enter(const struct vmm_jail *j, struct berth_error *err);

/* Installs the calling thread's seccomp filter (threads inherit it from their creator, so the
 * loop's filter must allow what vCPU threads need to start; each vCPU then narrows its own). */
int vmm_seccomp_apply(enum vmm_thread_kind kind, struct berth_error *err);
