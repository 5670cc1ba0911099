/* OCI runtime-spec (1.2) config.json: parsing, validation naming the field at fault, defaults.
 * Strings point into the kept json_t tree, so a config is one allocation tree freed at once. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/cleanup.h"
#include "base/error.h"

#define OCI_CONFIG_MAX (4u << 20) /* config.json larger than this is refused */

struct oci_idmap {
    uint32_t container_id, host_id, size;
};

struct oci_rlimit {
    int resource;     /* RLIMIT_* */
    const char *name; /* "RLIMIT_NOFILE" as written */
    uint64_t soft, hard;
};

struct oci_user {
    uint32_t uid, gid;
    bool has_umask;
    uint32_t umask;
    uint32_t *additional_gids;
    size_t n_additional_gids;
};

struct oci_process {
    bool terminal;
    unsigned console_height, console_width;
    struct oci_user user;
    char **args; /* malloc'd vector of pointers into the JSON */
    char **env;
    const char *cwd;
    json_t *capabilities; /* NULL: none */
    struct oci_rlimit *rlimits;
    size_t n_rlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
};

/* Namespace kinds in the order they are joined (user first, so the others are owned by it). */
enum oci_ns_kind {
    OCI_NS_USER,
    OCI_NS_MOUNT,
    OCI_NS_PID,
    OCI_NS_NETWORK,
    OCI_NS_IPC,
    OCI_NS_UTS,
    OCI_NS_CGROUP,
    OCI_NS_TIME,
    OCI_NS_COUNT,
};

struct oci_namespace {
    bool present;
    const char *path; /* NULL: a new namespace */
};

/* A mount with its options split into flags (classic MS_* and MOUNT_ATTR_*), propagation and data. */
struct oci_mount {
    const char *destination;
    const char *type;   /* NULL for binds */
    const char *source; /* NULL allowed for tmpfs-like types */
    bool bind, recursive;
    bool tmpcopyup;          /* tmpfs seeded with what the rootfs has at the destination */
    unsigned long flags;     /* MS_RDONLY, MS_NOSUID, ... asked for */
    unsigned long clear;     /* flags explicitly cleared (rw, suid, ...) */
    bool rec_attrs;          /* rro/rnosuid/...: attributes apply recursively */
    unsigned long rec_flags; /* flags from the r* options */
    unsigned long propagation; /* MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE, 0 none */
    bool propagation_rec;
    char *data; /* comma-joined remaining options, malloc'd, NULL when none */
};

struct oci_device {
    const char *path;
    char type; /* 'c', 'b', 'p' ('u' is read as 'c') */
    int64_t major, minor;
    bool has_mode, has_uid, has_gid;
    uint32_t mode, uid, gid;
};

struct oci_hook {
    const char *path;
    char **args; /* may be NULL */
    char **env;  /* may be NULL */
    int timeout; /* seconds, 0 none */
};

enum oci_hook_kind {
    OCI_HOOK_PRESTART,
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER,
    OCI_HOOK_START_CONTAINER,
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
    OCI_HOOK_COUNT,
};

struct oci_hooks {
    struct oci_hook *list[OCI_HOOK_COUNT];
    size_t n[OCI_HOOK_COUNT];
};

struct oci_config {
    json_t *json;       /* the whole document (owned) */
    char *bundle;       /* absolute bundle directory */
    char *rootfs;       /* absolute rootfs path */
    bool rootfs_readonly;
    const char *hostname, *domainname;
    bool has_process;
    struct oci_process process;
    struct oci_mount *mounts;
    size_t n_mounts;
    struct oci_namespace ns[OCI_NS_COUNT];
    struct oci_idmap *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
    struct oci_device *devices;
    size_t n_devices;
    json_t *sysctl;        /* object of strings, may be NULL */
    json_t *resources;     /* may be NULL */
    json_t *seccomp;       /* may be NULL */
    json_t *annotations;   /* may be NULL */
    json_t *time_offsets;  /* linux.timeOffsets, may be NULL */
    const char *cgroups_path;
    const char **masked_paths, **readonly_paths;
    size_t n_masked_paths, n_readonly_paths;
    unsigned long rootfs_propagation; /* MS_* | MS_REC, 0: default (rslave) */
    const char *oci_version;
    struct oci_hooks hooks;
};

/* Loads BUNDLE/config.json, validates it and resolves the rootfs against the bundle. */
int oci_config_load_bundle(const char *bundle, struct oci_config **ret, struct berth_error *err);

/* Parses and validates an already loaded document (takes a reference of json). bundle may be NULL
 * (the rootfs is then not checked). what names the source in messages. */
int oci_config_from_json(json_t *json, const char *bundle, const char *what, struct oci_config **ret,
                         struct berth_error *err);

void oci_runtime_config_free(struct oci_config *c);
DEFINE_CLEANUP_FUNC(struct oci_config, oci_runtime_config_free)

/* Parses a "process" object (config.json's, or exec --process's). Pointers stay valid while json
 * lives. */
int oci_process_parse(json_t *json, const char *what, struct oci_process *ret, struct berth_error *err);
void oci_process_done(struct oci_process *p);

/* Parses hooks ("prestart": [...], ...) from the "hooks" object. */
int oci_hooks_parse(json_t *hooks, const char *what, struct oci_hooks *ret, struct berth_error *err);
void oci_hooks_done(struct oci_hooks *h);
const char *oci_hook_name(enum oci_hook_kind k);

/* Mount options: splits them into flags, propagation and data (exported for tests and fuzzing). */
int oci_mount_parse_options(json_t *options, const char *what, struct oci_mount *m, struct berth_error *err);

/* Name of a namespace kind as in the spec ("network", "mount", ...), and its CLONE_NEW* flag. */
const char *oci_ns_name(enum oci_ns_kind k);
int oci_ns_clone_flag(enum oci_ns_kind k);
/* /proc/PID/ns/<file> name of a kind ("net", "mnt", ...). */
const char *oci_ns_proc_name(enum oci_ns_kind k);

/* RLIMIT_* by its spec name, -1 when unknown. */
int oci_rlimit_from_name(const char *name);

/* A valid container id: 1..1024 of [A-Za-z0-9_+.-], not "." or "..". */
bool oci_id_valid(const char *id);

/* The default config.json `spec` writes (runc's shape); rootless maps the caller's uid/gid. */
json_t *oci_config_default(bool rootless, uid_t uid, gid_t gid);
