#include "containers/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container.h"

static int ensure_running(const struct ctr_record *rec, struct berth_error *err)
{
    if (strcmp(rec->state, "running") && strcmp(rec->state, "paused"))
        return berth_error_set(err, -EINVAL, "container %s is not running (it is %s)", rec->name, rec->state);
    return 0;
}

int ctr_parse_net_dev(const char *text, uint64_t *ret_rx, uint64_t *ret_tx)
{
    uint64_t rx = 0, tx = 0;
    /* Two header lines, then "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ..." */
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *colon = strchr(line, ':');
        const char *eol = strchr(line, '\n');
        if (!colon || (eol && colon > eol))
            continue;
        const char *name = line;
        while (*name == ' ')
            name++;
        if (colon - name == 2 && !strncmp(name, "lo", 2))
            continue;
        unsigned long long r_bytes, t_bytes;
        if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r_bytes, &t_bytes) != 2)
            continue;
        rx += r_bytes;
        tx += t_bytes;
    }
    *ret_rx = rx;
    *ret_tx = tx;
    return 0;
}

int ctr_stats(const struct ctr_record *rec, struct ctr_usage *ret, struct berth_error *err)
{
    int r = ensure_running(rec, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *oci = ctr_oci_root();
    if (!oci)
        return -ENOMEM;
    struct ctr_usage u = { 0 };
    r = container_stats(oci, rec->id, &u.cg, err);
    if (r < 0)
        return berth_error_prefix(err, r, "container %s: ", rec->name);
    /* The network namespace's counters, through the init's /proc entry. */
    json_t *st = NULL;
    if (container_state(oci, rec->id, &st, NULL) == 0) {
        json_int_t pid = json_integer_value(json_object_get(st, "pid"));
        char path[64];
        _cleanup_free_ char *text = NULL;
        snprintf(path, sizeof(path), "/proc/%lld/net/dev", (long long) pid);
        if (pid > 0 && fs_read_file(path, 1 << 20, &text, NULL, NULL) == 0)
            ctr_parse_net_dev(text, &u.net_rx_bytes, &u.net_tx_bytes);
        json_decref(st);
    }
    *ret = u;
    return 0;
}

double ctr_cpu_percent(const struct cgroup_stats *before, const struct cgroup_stats *after, uint64_t wall_ns)
{
    if (wall_ns == 0 || after->cpu_usage_ns < before->cpu_usage_ns)
        return 0.0;
    return 100.0 * (double) (after->cpu_usage_ns - before->cpu_usage_ns) / (double) wall_ns;
}

uint64_t ctr_memory_used(const struct cgroup_stats *s)
{
    return s->memory_cache < s->memory_usage ? s->memory_usage - s->memory_cache : s->memory_usage;
}

int ctr_parse_proc_stat(const char *text, char *ret_state, pid_t *ret_ppid, uint64_t *ret_ticks,
                        uint64_t *ret_start_ticks, uint64_t *ret_rss_pages)
{
    /* The comm field ends at the last ')': a process can name itself "a) R 1". */
    const char *p = strrchr(text, ')');
    if (!p)
        return -EINVAL;
    char state;
    int ppid;
    unsigned long long utime, stime, start;
    long long rss;
    /* fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
     * stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss */
    int n = sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %lld",
                   &state, &ppid, &utime, &stime, &start, &rss);
    if (n != 6)
        return -EINVAL;
    *ret_state = state;
    *ret_ppid = ppid;
    *ret_ticks = utime + stime;
    *ret_start_ticks = start;
    *ret_rss_pages = rss > 0 ? (uint64_t) rss : 0;
    return 0;
}

static int64_t boot_time(void)
{
    struct timespec now, up;
    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_BOOTTIME, &up);
    return (int64_t) now.tv_sec - (int64_t) up.tv_sec;
}

/* 0 and fills p; -ENOENT when the process is gone. */
static int read_process(pid_t pid, int64_t booted, long hz, long page, struct ctr_process *p)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int) pid);
    _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -ENOENT;
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return -ENOENT;
    _cleanup_free_ char *stat = NULL, *cmdline = NULL;
    size_t cmd_len = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    if (fs_read_file(path, 4096, &stat, NULL, NULL) < 0)
        return -ENOENT;
    uint64_t ticks, start, rss;
    if (ctr_parse_proc_stat(stat, &p->state, &p->ppid, &ticks, &start, &rss) < 0)
        return -ENOENT;
    p->pid = pid;
    p->uid = st.st_uid;
    p->cpu_ns = ticks * (1000000000ull / (uint64_t) hz);
    p->start_time = booted + (int64_t) (start / (uint64_t) hz);
    p->rss = rss * (uint64_t) page;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    if (fs_read_file(path, 1 << 16, &cmdline, &cmd_len, NULL) == 0 && cmd_len > 0) {
        /* NUL-separated arguments: join with spaces, dropping the trailing NUL. */
        while (cmd_len > 0 && cmdline[cmd_len - 1] == '\0')
            cmd_len--;
        for (size_t i = 0; i < cmd_len; i++)
            if (cmdline[i] == '\0')
                cmdline[i] = ' ';
        cmdline[cmd_len] = '\0';
        p->cmd = TAKE_PTR(cmdline);
    } else {
        const char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
        int len = open_paren && close_paren > open_paren ? (int) (close_paren - open_paren - 1) : 0;
        if (asprintf(&p->cmd, "[%.*s]", len, open_paren ? open_paren + 1 : "") < 0)
            p->cmd = NULL;
    }
    return p->cmd ? 0 : -ENOMEM;
}

static int by_pid(const void *a, const void *b)
{
    return ((const struct ctr_process *) a)->pid - ((const struct ctr_process *) b)->pid;
}

void ctr_processes_free(struct ctr_process *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].cmd);
    free(p);
}

int ctr_processes(const struct ctr_record *rec, struct ctr_process **ret, size_t *ret_n, struct berth_error *err)
{
    int r = ensure_running(rec, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *oci = ctr_oci_root();
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    if (!oci)
        return -ENOMEM;
    if ((r = container_pids(oci, rec->id, &pids, &n, err)) < 0)
        return berth_error_prefix(err, r, "container %s: ", rec->name);
    struct ctr_process *list = calloc(n ? n : 1, sizeof(*list));
    if (!list)
        return -ENOMEM;
    int64_t booted = boot_time();
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        r = read_process(pids[i], booted, hz > 0 ? hz : 100, page > 0 ? page : 4096, &list[k]);
        if (r == -ENOMEM) {
            ctr_processes_free(list, k);
            return r;
        }
        if (r == 0)
            k++;
    }
    qsort(list, k, sizeof(*list), by_pid);
    *ret = list;
    *ret_n = k;
    return 0;
}
