/* What a berth-vmm VM is made of, from the command line, a JSON file or the control socket's
 * "configure" action. Validated before anything is allocated. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define VMM_MAX_CPUS 64
#define VMM_MIN_MEMORY_MIB 8
#define VMM_MAX_MEMORY_MIB (256ULL * 1024)
#define VMM_MAX_DISKS 8
#define VMM_MAX_NETS 8

enum vmm_console_kind { VMM_CONSOLE_STDIO, VMM_CONSOLE_FILE, VMM_CONSOLE_SOCKET, VMM_CONSOLE_NONE };

struct vmm_disk_config {
    char *path;
    bool read_only;
    /* "raw" or "qcow2" (static strings); NULL: probed from the content at open. A VM's own disks
     * always carry their format: a guest can write a qcow2 header into a raw disk, and a probe
     * would then follow the backing file that header names on the host. */
    const char *format;
};

struct vmm_config {
    char *kernel;
    char *initrd;
    char *cmdline;
    unsigned cpus;
    uint64_t memory_mib;
    struct vmm_disk_config disks[VMM_MAX_DISKS];
    unsigned n_disks;
    char *nets[VMM_MAX_NETS];
    unsigned n_nets;
    uint32_t vsock_cid; /* 0: no vsock */
    char *vsock_socket;
    enum vmm_console_kind console;
    char *console_path;
    char *console_log; /* everything the guest prints is also appended here (NULL: no log) */
    bool balloon;      /* add a virtio-balloon device (driven by the control socket's "balloon") */
};

void vmm_config_init(struct vmm_config *c);
void vmm_config_clear(struct vmm_config *c);

/* "FILE[,ro|rw][,format=raw|qcow2]" */
int vmm_config_add_disk(struct vmm_config *c, const char *spec, struct berth_error *err);
int vmm_config_add_net(struct vmm_config *c, const char *tap, struct berth_error *err);
/* "CID:SOCKET" */
int vmm_config_set_vsock(struct vmm_config *c, const char *spec, struct berth_error *err);
/* "stdio", "none", "socket:PATH" or a file path */
int vmm_config_set_console(struct vmm_config *c, const char *spec, struct berth_error *err);
/* Strictly parsed decimal in [min, max]; what names the option in errors. */
int vmm_parse_uint(const char *s, uint64_t min, uint64_t max, const char *what, uint64_t *ret, struct berth_error *err);

/* Merges a JSON object {"kernel","initrd","cmdline","cpus","memory_mib","disks":[{"path","read_only","format"}],
 * "nets":[...], "vsock":{"cid","socket"}, "console":"...", "console_log":"...", "balloon":bool}
 * into c; unknown keys are errors. */
int vmm_config_from_json(json_t *obj, const char *what, struct vmm_config *c, struct berth_error *err);
json_t *vmm_config_to_json(const struct vmm_config *c);

/* Checks that the configuration can boot: kernel set and readable, cpus/memory in range,
 * disks present (and writable unless read-only). */
int vmm_config_validate(const struct vmm_config *c, struct berth_error *err);
