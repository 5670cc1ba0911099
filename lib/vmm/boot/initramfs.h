/* berth's guest initramfs: berth-agent as /init plus the kernel modules a stock distribution kernel
 * needs to reach its virtio devices (virtio-mmio, blk, net, console, rng, vsock, balloon, overlay).
 * Built once per kernel version under $BERTH_ROOT/kernels/<version>/. */
#pragma once

#include "base/error.h"

/* The modules, by name; their dependencies come from modules.dep. */
extern const char *const initramfs_guest_modules[];

/* Writes an initramfs to out_path: /init (agent_path), /lib/modules/<name>.ko for every needed
 * module not built into the kernel, and /lib/berth/modules.order listing them in load order
 * (dependencies first). modules_dir is /lib/modules/<version>. */
int initramfs_build(const char *modules_dir, const char *agent_path, const char *out_path, struct berth_error *err);

/* A guest kernel ready to boot: paths owned by the caller (free()). */
struct guest_kernel {
    char *version;
    char *kernel;     /* the bzImage */
    char *initramfs;  /* generated */
};

/* Finds the kernel for version (NULL: the newest /boot/vmlinuz-* with modules in /lib/modules), and
 * makes sure $root/kernels/<version>/initramfs.img exists and is newer than agent_path. */
int guest_kernel_prepare(const char *root, const char *version, const char *agent_path, struct guest_kernel *ret,
                         struct berth_error *err);
void guest_kernel_clear(struct guest_kernel *k);
