/* Cgroups for containers and VMMs: one manager API, v1 and v2 backends behind an ops table.
 * Contract between the container lifecycle (container.c and friends) and the cgroup backends. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct cgroup_manager;

struct cgroup_stats {
    uint64_t cpu_usage_ns;
    uint64_t memory_usage;   /* bytes */
    uint64_t memory_limit;   /* bytes, UINT64_MAX when unlimited */
    uint64_t memory_cache;   /* inactive page cache inside memory_usage (reclaimable; `stats` shows usage minus it) */
    uint64_t io_read_bytes;  /* block I/O the cgroup did (v1 blkio throttle counters, v2 io.stat) */
    uint64_t io_write_bytes;
    uint64_t pids_current;
    uint64_t pids_limit;     /* UINT64_MAX when unlimited */
};

/* Resolves where a container's cgroup lives. cgroups_path is the spec's linux.cgroupsPath (NULL:
 * a default derived from id); systemd selects the "slice:prefix:name" form. root is the cgroup
 * filesystem root (NULL: /sys/fs/cgroup; tests pass a private cgroup2 mount). Creates nothing. */
int cgroup_manager_new(const char *cgroups_path, const char *id, bool systemd, const char *root,
                       struct cgroup_manager **ret, struct berth_error *err);

/* Creates the cgroup(s) and moves pid in. */
int cgroup_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err);

/* Applies linux.resources (memory, cpu, pids, blockIO, hugepageLimits, devices, unified). NULL is a no-op. */
int cgroup_apply(struct cgroup_manager *m, json_t *resources, struct berth_error *err);

int cgroup_freeze(struct cgroup_manager *m, bool frozen, struct berth_error *err);
/* 1 when frozen, 0 when not. */
int cgroup_is_frozen(struct cgroup_manager *m);

/* Every pid in the cgroup (malloc'd array). */
int cgroup_pids(struct cgroup_manager *m, pid_t **ret_pids, size_t *ret_n, struct berth_error *err);
int cgroup_kill_all(struct cgroup_manager *m, int sig, struct berth_error *err);
int cgroup_stats(struct cgroup_manager *m, struct cgroup_stats *ret, struct berth_error *err);

/* Removes the cgroup(s); processes still inside are killed first. Missing is fine. */
int cgroup_destroy(struct cgroup_manager *m, struct berth_error *err);

/* Persisted in the container's state so later commands (kill, delete, update) find the same cgroups. */
json_t *cgroup_manager_to_json(const struct cgroup_manager *m);
int cgroup_manager_from_json(json_t *state, struct cgroup_manager **ret, struct berth_error *err);

void cgroup_manager_free(struct cgroup_manager *m);
