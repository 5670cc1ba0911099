/* Shared between the cgroup manager (cgroup.c) and its v1/v2 backends: the manager's layout, the
 * backend ops table, and the pure translation helpers (also unit-tested). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "runtime/cgroup.h"

#define CGROUP_V1_MAX_CONTROLLERS 16

/* One mounted v1 hierarchy a container takes part in. */
struct cgroup_v1_dir {
    char *controllers; /* "memory", "cpu,cpuacct": the controllers of the hierarchy */
    char *mount;       /* the hierarchy's mount point */
    char *rel;         /* the container's cgroup below mount ("/berth/id") */
    char *dir;         /* mount + rel */
    int created;       /* trailing components of rel created by this manager */
};

struct cgroup_ops;

struct cgroup_manager {
    const struct cgroup_ops *ops;
    int version;           /* 1 or 2 */
    char *root;            /* cgroup filesystem root ("/sys/fs/cgroup" or a private cgroup2 mount) */
    char *path;            /* v2: the container's cgroup below root ("/berth/id"); v1: as configured */
    bool systemd;
    /* v2: how many trailing components of path this manager created (removed on destroy). */
    int created;
    /* v2: root + path. v1: one entry per mounted hierarchy. */
    char *dir;
    struct cgroup_v1_dir v1[CGROUP_V1_MAX_CONTROLLERS];
    size_t n_v1;
};

struct cgroup_ops {
    const char *name;
    int (*enter)(struct cgroup_manager *m, pid_t pid, struct berth_error *err);
    int (*apply)(struct cgroup_manager *m, json_t *resources, struct berth_error *err);
    int (*freeze)(struct cgroup_manager *m, bool frozen, struct berth_error *err);
    int (*is_frozen)(struct cgroup_manager *m);
    /* The directory whose cgroup.procs lists the container's processes. */
    const char *(*procs_dir)(struct cgroup_manager *m);
    int (*stats)(struct cgroup_manager *m, struct cgroup_stats *ret, struct berth_error *err);
    /* Removes the directories (the manager has already killed what was inside). */
    int (*destroy)(struct cgroup_manager *m, struct berth_error *err);
};

extern const struct cgroup_ops cgroup_v1_ops;
extern const struct cgroup_ops cgroup_v2_ops;

/* --- path resolution (cgroup-path.c, pure) --- */

/* Expands a systemd slice name: "a-b.slice" -> "/a.slice/a-b.slice"; "" or "-.slice" -> "". */
int cgroup_expand_slice(const char *slice, char **ret, struct berth_error *err);

/* Turns "slice:prefix:name" into a cgroupfs path ("/system.slice/prefix-name.scope"). */
int cgroup_systemd_path(const char *spec, char **ret, struct berth_error *err);

/* The container's cgroup path below a hierarchy's root. own is the caller's cgroup in that
 * hierarchy (from /proc/self/cgroup); relative paths nest under own (v1) or beside it (v2,
 * because a v2 cgroup holding processes cannot also delegate controllers to children). */
int cgroup_resolve_path(const char *cgroups_path, const char *id, int version, const char *own,
                        char **ret, struct berth_error *err);

/* Reads the caller's cgroup for a v1 controller ("memory") or v2 (controller NULL) from text
 * shaped like /proc/self/cgroup. */
int cgroup_parse_proc_cgroup(const char *text, const char *controller, char **ret);

/* --- resource translation (cgroup-convert.c, pure) --- */

/* cpu.shares [2, 262144] -> cpu.weight [1, 10000]; 0 means unset and stays 0. */
uint64_t cgroup_shares_to_weight(uint64_t shares);
/* blkio.weight [10, 1000] -> io.weight [1, 10000]; 0 stays 0. */
uint64_t cgroup_blkio_to_io_weight(uint64_t weight);
/* Spec memory.swap is memory+swap; v2's memory.swap.max is swap alone. Writes "max" or a
 * number into buf; returns 0, 1 when nothing must be written, or -EINVAL with a message. */
int cgroup_swap_to_v2(int64_t memory, int64_t swap, char *buf, size_t len, struct berth_error *err);
/* "2MB" and friends: validates a hugepage size string (digits then KB/MB/GB). */
bool cgroup_hugepage_size_valid(const char *s);

/* --- small file helpers (cgroup-util.c) --- */

/* Writes value to dir/file, with the error naming the file and the value. */
int cgroup_write(const char *dir, const char *file, const char *value, struct berth_error *err);
int cgroup_writef(const char *dir, const char *file, struct berth_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reads dir/file (trailing newline stripped). */
int cgroup_read(const char *dir, const char *file, char **ret);
int cgroup_read_u64(const char *dir, const char *file, uint64_t *ret);
/* Removes a cgroup directory and its child cgroups (depth first), waiting a bounded time while
 * the kernel still holds a dying cgroup (EBUSY). */
int cgroup_rmdir(const char *path);
/* mkdir -p of root+path, counting the components it created. */
int cgroup_mkdir_path(const char *mount, const char *path, int *ret_created, struct berth_error *err);
/* Removes mount+path with any child cgroups, then the created parents that are empty. */
int cgroup_rmdir_path(const char *mount, const char *path, int created);
/* Appends every pid in dir/cgroup.procs and its child cgroups. */
int cgroup_collect_pids(const char *dir, pid_t **pids, size_t *n);

/* The value of key in a flat-keyed cgroup file ("key value" lines: memory.stat, cpu.stat);
 * -ENOENT when the key is absent. */
int cgroup_stat_field(const char *text, const char *key, uint64_t *ret);
/* Sums the bytes read and written over every device in a v1 blkio.throttle.io_service_bytes
 * ("8:0 Read 4096" lines) or a v2 io.stat ("8:0 rbytes=4096 wbytes=0 ..." lines). */
void cgroup_parse_io_v1(const char *text, uint64_t *ret_read, uint64_t *ret_write);
void cgroup_parse_io_v2(const char *text, uint64_t *ret_read, uint64_t *ret_write);
/* Fills what the v2 files in dir report (cpu.stat, memory.current/max/stat, pids.current/max);
 * absent files leave their fields untouched. Pure file reading, unit-tested with fixtures. */
int cgroup_v2_read_stats(const char *dir, struct cgroup_stats *s);

/* v1: the container's directory in the hierarchy holding controller, or NULL when not mounted. */
const char *cgroup_v1_dir_for(const struct cgroup_manager *m, const char *controller);
/* Polls dir/file until its content contains want (freezer state, cgroup.events), ~2s at most. */
int cgroup_wait_content(const char *dir, const char *file, const char *want);

/* --- linux.resources parsed once, validated, then written by a backend (cgroup-resources.c) --- */

struct cgroup_dev_rate {
    int64_t major, minor;
    uint64_t value; /* rate (throttles) or weight */
    uint64_t leaf_weight;
};

struct cgroup_dev_rule {
    bool allow;
    char type;      /* 'a', 'b', 'c' */
    int64_t major;  /* -1: any */
    int64_t minor;  /* -1: any */
    char access[4]; /* subset of "rwm" */
};

struct cgroup_hugepage {
    const char *size; /* "2MB" */
    uint64_t limit;
};

enum { CG_THROTTLE_READ_BPS, CG_THROTTLE_WRITE_BPS, CG_THROTTLE_READ_IOPS, CG_THROTTLE_WRITE_IOPS, CG_THROTTLE_N };

/* Zero means "not set" where the spec gives zero no meaning; has_* flags where zero is a value.
 * Strings point into the JSON the resources were parsed from. */
struct cgroup_resources {
    int64_t mem_limit, mem_reservation, mem_swap, mem_kernel, mem_kernel_tcp;
    bool has_swappiness, has_disable_oom;
    uint64_t swappiness;
    bool disable_oom;

    uint64_t cpu_shares, cpu_period, cpu_rt_period;
    int64_t cpu_quota, cpu_rt_runtime;
    bool has_cpu_idle, has_cpu_burst;
    int64_t cpu_idle;
    uint64_t cpu_burst;
    const char *cpus, *mems;

    bool has_pids;
    int64_t pids_limit;

    uint64_t blkio_weight, blkio_leaf_weight;
    struct cgroup_dev_rate *weight_devices;
    size_t n_weight_devices;
    struct cgroup_dev_rate *throttle[CG_THROTTLE_N];
    size_t n_throttle[CG_THROTTLE_N];

    struct cgroup_hugepage *hugepages;
    size_t n_hugepages;

    struct cgroup_dev_rule *devices;
    size_t n_devices;
    bool has_devices;

    bool has_classid;
    uint64_t classid;
    json_t *net_priorities;

    json_t *unified;
};

int cgroup_resources_parse(json_t *resources, struct cgroup_resources *ret, struct berth_error *err);
void cgroup_resources_done(struct cgroup_resources *r);
/* "c 1:3 rwm" (v1 devices.allow/deny syntax). */
void cgroup_dev_rule_format(const struct cgroup_dev_rule *d, char *buf, size_t len);

/* v2 device access: an eBPF cgroup-device program built from the rules (cgroup-v2-devices.c). */
int cgroup_v2_devices_apply(struct cgroup_manager *m, const struct cgroup_dev_rule *rules, size_t n,
                            struct berth_error *err);
struct bpf_insn;
/* The program alone (for tests): malloc'd instructions. */
int cgroup_v2_devices_program(const struct cgroup_dev_rule *rules, size_t n_rules, struct bpf_insn **ret,
                              size_t *ret_n);
