/* VMs as users see them (`berth vm`): records in the state database (module "vm"), files under
 * $BERTH_ROOT/vms/<id>/ (disk.qcow2: a thin overlay on a gold template; config.img: the identity
 * handed to berth-agent; console.log), runtime files under $BERTH_RUNTIME_DIR/v/<id12>/ (pid,
 * sockets). A VM runs through one of the hypervisor backends (backend.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct store;

#define VM_NAME_MAX 63
#define VM_NETWORK_MAX 64     /* = NET_NAME_MAX */

struct vm_record {
    char id[65];            /* 64 hex digits */
    char name[VM_NAME_MAX + 1];
    char backend[16];       /* "auto", "berth-vmm", "qemu" */
    char image[256];        /* the image reference it was created from ("" for --disk) */
    char template_name[VM_NAME_MAX + 1]; /* the template it was cloned from ("") */
    char kernel_version[128]; /* "" : newest installed */
    char hostname[VM_NAME_MAX + 1];
    char mac[18];
    char machine_id[33];
    uint32_t cid;           /* vsock context id, unique per VM */
    unsigned cpus;
    uint64_t memory_mib;
    uint64_t disk_size;     /* bytes */
    json_t *args;           /* command to run instead of the image's init (array, may be NULL) */
    json_t *env;            /* array, may be NULL */
    char *cmdline_extra;    /* appended to the kernel command line, may be NULL */
    char network[VM_NETWORK_MAX]; /* a berth network ("berth": the default one), "" for none */
    json_t *ports;          /* published ports, "[HOSTIP:]HOSTPORT:PORT[/proto]" strings (may be NULL) */
    char ip[16];            /* --ip: its address on network, reserved from create to rm ("": the next free one) */
    json_t *aliases;        /* --network-alias: more DNS names on network (array of strings, may be NULL) */
    bool balloon;           /* a virtio-balloon device (berth-vmm backend; berth vm balloon) */
    int64_t created;
    /* runtime */
    char state[16];         /* "created", "running", "stopped" */
    pid_t pid;              /* the monitor's pid while running */
    char running_backend[32]; /* what actually runs it: "berth-vmm", "qemu (tcg)", "qemu (kvm)" */
    int64_t started, finished;
    int exit_status;        /* -1 unknown */
};

int vm_store_open(struct store **ret, struct berth_error *err);

/* Adds rec (id, mac, cid, machine_id generated when empty). A taken name is -EEXIST with
 * "a VM named X already exists"; concurrent creates serialise on the database, never fail on a lock. */
int vm_record_insert(struct store *s, struct vm_record *rec, struct berth_error *err);
/* By exact name, full id, or unambiguous id prefix (at least 4 hex digits). */
int vm_record_find(struct store *s, const char *what, struct vm_record *ret, struct berth_error *err);
int vm_record_list(struct store *s, struct vm_record **ret, size_t *ret_n, struct berth_error *err);
int vm_record_update_runtime(struct store *s, const struct vm_record *rec, struct berth_error *err);
/* Writes network, ip, aliases and ports (berth network connect/disconnect of a stopped VM). */
int vm_record_update_network(struct store *s, const struct vm_record *rec, struct berth_error *err);
int vm_record_delete(struct store *s, const char *id, struct berth_error *err);
void vm_record_clear(struct vm_record *rec);
void vm_record_list_free(struct vm_record *list, size_t n);

/* Valid names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters (usable as a hostname). */
bool vm_name_is_valid(const char *name);

/* $BERTH_ROOT/vms/<id> and $BERTH_RUNTIME_DIR/v/<id, 12 digits> (malloc'd). */
char *vm_dir(const char *id);
char *vm_run_dir(const char *id);

/* Brings state up to date: a "running" VM whose monitor is gone becomes "stopped", with its exit
 * status read from the console log when the agent printed one. Returns 1 when it changed. */
int vm_refresh_state(struct store *s, struct vm_record *rec, struct berth_error *err);

/* JSON for `inspect` and `ls --format json`. */
json_t *vm_record_to_json(const struct vm_record *rec);
