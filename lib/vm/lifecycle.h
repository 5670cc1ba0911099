/* What `berth vm` does: create, start, stop, remove, exec, clone. Each returns -errno with a
 * message naming the VM and the problem; invalid actions for the VM's state are precise errors
 * ("VM web is already running"), never undefined behaviour. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vm/vm.h"

struct store;

struct vm_create_opts {
    const char *name;
    const char *image;          /* an image in the store, or */
    const char *disk;           /* an existing raw/qcow2 disk file (kept untouched: the VM writes an overlay), or */
    const char *template_name;  /* a named template */
    const char *backend;        /* "auto" (NULL), "berth-vmm", "qemu" */
    const char *kernel_version; /* NULL: newest installed */
    unsigned cpus;              /* 0: 1 */
    uint64_t memory_mib;        /* 0: 256 */
    uint64_t disk_size;         /* 0: 1 GiB (images only) */
    json_t *args;               /* command instead of the image's init (NULL: image's entrypoint+cmd or /sbin/init) */
    const char *cmdline_extra;
    const char *hostname;       /* NULL: the name */
    const char *network;        /* a berth network ("berth": the default one), "none": no network, NULL:
                                 * [network] default_network of berth.conf ("berth" when unset) */
    json_t *ports;              /* -p specs to publish on the network (needs network) */
    const char *ip;             /* --ip: a static address on the network (needs network), reserved for the
                                 * VM from its create to its removal; NULL: the next free one at each start */
    const char *const *aliases; /* --network-alias: more DNS names of the VM on the network (needs network) */
    size_t n_aliases;
    bool balloon;               /* a virtio-balloon device (berth-vmm backend only) */
};

/* Errors of --ip and --network-alias (syntax; address outside the subnet, the gateway, held or
 * reserved by another workload; alias clash, naming the holder) come from here, with nothing left
 * behind: no record, no files, no reservation. */
int vm_create(struct store *s, const struct vm_create_opts *o, struct vm_record *ret, struct berth_error *err);

/* The network a new VM records from --network (NULL: berth.conf's default_network; its "host"
 * means none for a VM, an explicit "host" is refused): "" for none. Refuses -p without one. */
int vm_network_choose(const char *network, const json_t *ports, char ret[VM_NETWORK_MAX], struct berth_error *err);

/* --ip and --network-alias of o for a VM on network ("": none): syntax, and a network to apply
 * them to. vm_record_set_net_opts copies them into rec; vm_net_reserve reserves rec's name, address
 * and aliases on its network (net_reserve), a no-op without a network. */
int vm_net_opts_check(const struct vm_create_opts *o, const char *network, struct berth_error *err);
void vm_record_set_net_opts(const struct vm_create_opts *o, struct vm_record *rec);
int vm_net_reserve(const struct vm_record *rec, struct berth_error *err);

/* Starts a created or stopped VM. *ret_why (may be NULL, 256 bytes): which backend and why. */
int vm_start(struct store *s, struct vm_record *rec, char *ret_why, struct berth_error *err);

/* Stops a running VM: asks the guest agent to power off, waits up to timeout_s, then kills the
 * monitor (force: kill at once). */
int vm_stop(struct store *s, struct vm_record *rec, bool force, int timeout_s, struct berth_error *err);

/* Removes a VM, its files and its address reservation; a running VM needs force. */
int vm_remove(struct store *s, struct vm_record *rec, bool force, struct berth_error *err);

/* Runs args in a running VM through its agent. */
int vm_exec(struct vm_record *rec, json_t *request, int in_fd, int out_fd, int err_fd, int *ret_status,
            struct berth_error *err);

/* Creates count thin clones of template_name named <prefix>-<n> (the first free numbers), each
 * with its own identity (hostname, MAC, vsock CID, machine-id; random seed at every boot). Safe to
 * run in parallel with other clones and creates. *ret_created: how many were made; their names are
 * appended to *ret_names (a strv the caller frees) unless it is NULL, also when it fails halfway. */
int vm_clone(struct store *s, const char *template_name, unsigned count, const char *prefix,
             const struct vm_create_opts *base, unsigned *ret_created, char ***ret_names, struct berth_error *err);

/* Named templates: from a stopped VM's disk (flattened) or from an image. */
int vm_template_create(struct store *s, const char *name, const char *from_vm, const char *from_image,
                       uint64_t disk_size, struct berth_error *err);
int vm_template_remove(struct store *s, const char *name, struct berth_error *err);
/* Names of the named templates (NULL-terminated strv). */
int vm_template_list(char ***ret, struct berth_error *err);
