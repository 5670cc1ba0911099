/* Hypervisor backends behind one ops table, as Incus, Proxmox and Kata have them: berth-vmm (ours,
 * the default where KVM is hardware-backed) and QEMU (for what berth-vmm does not do, and with TCG
 * where KVM is missing or, like the nested paravirtual kvm_pvm, cannot run a stock kernel). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "vm/vm.h"

/* Everything a backend needs to launch one VM; paths are absolute. */
struct vm_launch {
    const struct vm_record *rec;
    const char *kernel;
    const char *initramfs;
    const char *cmdline;       /* the kernel command line, complete */
    const char *disk;          /* root disk (qcow2) */
    const char *config_img;    /* berth-agent's config disk (raw, read-only) */
    const char *console_log;   /* everything the guest prints */
    const char *console_sock;  /* interactive console (qemu), or "" */
    const char *agent_sock;    /* the agent channel's host end */
    const char *control_sock;  /* QMP or berth-vmm API socket */
    const char *pid_file;
    const char *run_dir;
    const char *tap;           /* virtio-net on this tap (persistent, made by the network module), or NULL */
};

enum vm_agent_transport { VM_AGENT_SERIAL_SOCKET, VM_AGENT_VSOCK_UDS };

struct vm_backend_ops {
    const char *name;
    enum vm_agent_transport agent_transport;
    /* Starts the monitor detached from the caller; returns its pid once it is running. */
    int (*launch)(const struct vm_launch *l, pid_t *ret_pid, struct berth_error *err);
    /* Extra kernel parameters this backend's guests need (may return ""). */
    const char *(*cmdline_extra)(void);
};

extern const struct vm_backend_ops vm_backend_qemu;
extern const struct vm_backend_ops vm_backend_berth_vmm;

/* Picks the backend for name ("auto", "qemu", "berth-vmm"); *ret_why says why auto chose it. */
int vm_backend_choose(const char *name, const struct vm_backend_ops **ret, char *ret_why, size_t why_cap,
                      struct berth_error *err);

/* True when /dev/kvm can run a stock kernel at native speed (present, usable, not kvm_pvm). */
bool vm_kvm_is_fast(char *why, size_t cap);
