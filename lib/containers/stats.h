/* `berth stats` and `berth top`: what a running container uses (from its cgroups, through the
 * runtime library's cgroup manager, v1 or v2) and which processes it has (its cgroup's pids, read
 * from /proc). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "containers/containers.h"
#include "runtime/cgroup.h"

struct ctr_usage {
    struct cgroup_stats cg;   /* CPU, memory, block I/O, pids from the cgroup(s) */
    uint64_t net_rx_bytes;    /* over the container's interfaces but loopback */
    uint64_t net_tx_bytes;
};

/* The counters of a running container; a clear error when it is not running. */
int ctr_stats(const struct ctr_record *rec, struct ctr_usage *ret, struct berth_error *err);

/* Sums received and sent bytes of /proc/PID/net/dev text, loopback left out. */
int ctr_parse_net_dev(const char *text, uint64_t *ret_rx, uint64_t *ret_tx);

/* CPU use between two samples taken wall_ns apart, in percent of one CPU (200 = two CPUs busy). */
double ctr_cpu_percent(const struct cgroup_stats *before, const struct cgroup_stats *after, uint64_t wall_ns);
/* Memory in use the way docker stats counts it: usage minus the reclaimable inactive file cache. */
uint64_t ctr_memory_used(const struct cgroup_stats *s);

struct ctr_process {
    pid_t pid, ppid;
    uid_t uid;
    char state;           /* R, S, D, Z, T... */
    uint64_t cpu_ns;      /* user + system time */
    int64_t start_time;   /* seconds since the epoch */
    uint64_t rss;         /* bytes */
    char *cmd;            /* the command line, or [comm] for kernel-like empty ones */
};

/* Every process in the container's cgroup, sorted by pid. A process that exits while being read
 * is left out. */
int ctr_processes(const struct ctr_record *rec, struct ctr_process **ret, size_t *ret_n, struct berth_error *err);
void ctr_processes_free(struct ctr_process *p, size_t n);

/* Parses /proc/PID/stat text (comm may hold spaces and parentheses). Times in clock ticks. */
int ctr_parse_proc_stat(const char *text, char *ret_state, pid_t *ret_ppid, uint64_t *ret_ticks,
                        uint64_t *ret_start_ticks, uint64_t *ret_rss_pages);
