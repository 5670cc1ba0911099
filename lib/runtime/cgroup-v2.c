/* cgroup v2 backend: one directory in the unified hierarchy; controllers are delegated down from
 * the root through cgroup.subtree_control, and v1-shaped spec values are converted. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

/* Enables every available controller for the children of dir. One controller per write, so a
 * controller the kernel refuses here (e.g. a threaded-only one, or a parent with processes in
 * it) does not stop the others. */
static void enable_controllers(const char *dir)
{
    _cleanup_free_ char *avail = NULL;
    if (cgroup_read(dir, "cgroup.controllers", &avail) < 0)
        return;
    for (char *s = avail, *tok; (tok = strsep(&s, " \n"));) {
        if (!*tok)
            continue;
        char buf[64];
        snprintf(buf, sizeof(buf), "+%s", tok);
        struct berth_error tmp = { 0 };
        cgroup_write(dir, "cgroup.subtree_control", buf, &tmp);
    }
}

static int v2_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err)
{
    int created = 0;
    int r = cgroup_mkdir_path(m->root, m->path, &created, err);
    if (r < 0)
        return r;
    if (created > m->created)
        m->created = created;
    /* Delegate controllers at each level from the root down to the container's parent. */
    _cleanup_free_ char *cur = strdup(m->root);
    if (!cur)
        return -ENOMEM;
    enable_controllers(cur);
    const char *p = m->path;
    for (;;) {
        while (*p == '/')
            p++;
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        size_t old = strlen(cur), len = (size_t) (slash - p);
        char *n = realloc(cur, old + len + 2);
        if (!n)
            return -ENOMEM;
        cur = n;
        cur[old] = '/';
        memcpy(cur + old + 1, p, len);
        cur[old + 1 + len] = '\0';
        enable_controllers(cur);
        p = slash;
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int) pid);
    return cgroup_write(m->dir, "cgroup.procs", buf, err);
}

/* Writes file only when the controller is enabled for this cgroup; otherwise a precise error. */
static int wr(struct cgroup_manager *m, const char *file, const char *value, struct berth_error *err)
{
    _cleanup_free_ char *p = fs_path_join(m->dir, file);
    if (!p)
        return -ENOMEM;
    if (!fs_exists(p)) {
        char ctrl[32];
        snprintf(ctrl, sizeof(ctrl), "%.*s", (int) strcspn(file, "."), file);
        return berth_error_set(err, -EOPNOTSUPP,
                               "linux.resources: %s is not available in %s (is the '%s' controller enabled in the parent?)",
                               file, m->dir, ctrl);
    }
    return cgroup_write(m->dir, file, value, err);
}

static int wrf(struct cgroup_manager *m, const char *file, struct berth_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int wrf(struct cgroup_manager *m, const char *file, struct berth_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *v = NULL;
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    return wr(m, file, v, err);
}

static int v2_memory(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    int k;
    if (r->mem_limit) {
        if (r->mem_limit == -1)
            k = wr(m, "memory.max", "max", err);
        else
            k = wrf(m, "memory.max", err, "%" PRId64, r->mem_limit);
        if (k < 0)
            return k;
    }
    if (r->mem_swap) {
        char buf[32];
        k = cgroup_swap_to_v2(r->mem_limit, r->mem_swap, buf, sizeof(buf), err);
        if (k < 0)
            return k;
        _cleanup_free_ char *p = fs_path_join(m->dir, "memory.swap.max");
        if (!p)
            return -ENOMEM;
        if (k == 0 && fs_exists(p) && (k = cgroup_write(m->dir, "memory.swap.max", buf, err)) < 0)
            return k;
        if (k == 0 && !fs_exists(p) && strcmp(buf, "max") != 0)
            return berth_error_set(err, -EOPNOTSUPP,
                                   "linux.resources.memory.swap: this kernel has no swap accounting (memory.swap.max)");
    }
    if (r->mem_reservation) {
        if (r->mem_reservation == -1)
            k = wr(m, "memory.low", "max", err);
        else
            k = wrf(m, "memory.low", err, "%" PRId64, r->mem_reservation);
        if (k < 0)
            return k;
    }
    /* kernel, kernelTCP, swappiness and disableOOMKiller have no v2 files: the kernel accounts
     * kernel memory in memory.max and has no per-cgroup OOM switch. Ignored, as documented. */
    return 0;
}

static int v2_cpu(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    int k;
    if (r->cpu_shares && (k = wrf(m, "cpu.weight", err, "%" PRIu64, cgroup_shares_to_weight(r->cpu_shares))) < 0)
        return k;
    if (r->cpu_quota || r->cpu_period) {
        uint64_t period = r->cpu_period ? r->cpu_period : 100000;
        if (r->cpu_quota > 0)
            k = wrf(m, "cpu.max", err, "%" PRId64 " %" PRIu64, r->cpu_quota, period);
        else
            k = wrf(m, "cpu.max", err, "max %" PRIu64, period);
        if (k < 0)
            return k;
    }
    if (r->has_cpu_burst && (k = wrf(m, "cpu.max.burst", err, "%" PRIu64, r->cpu_burst)) < 0)
        return k;
    if (r->has_cpu_idle && (k = wrf(m, "cpu.idle", err, "%" PRId64, r->cpu_idle)) < 0)
        return k;
    if (r->cpu_rt_runtime || r->cpu_rt_period)
        return berth_error_set(err, -EOPNOTSUPP,
                               "linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2");
    if (r->cpus && *r->cpus && (k = wr(m, "cpuset.cpus", r->cpus, err)) < 0)
        return k;
    if (r->mems && *r->mems && (k = wr(m, "cpuset.mems", r->mems, err)) < 0)
        return k;
    return 0;
}

static int v2_io(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    static const char *keys[CG_THROTTLE_N] = { "rbps", "wbps", "riops", "wiops" };
    int k;
    _cleanup_free_ char *iow = fs_path_join(m->dir, "io.weight");
    if (!iow)
        return -ENOMEM;
    /* io.weight exists with the io cost model; with BFQ only, io.bfq.weight takes blkio's scale. */
    bool plain = fs_exists(iow);
    if (r->blkio_weight) {
        if (plain)
            k = wrf(m, "io.weight", err, "default %" PRIu64, cgroup_blkio_to_io_weight(r->blkio_weight));
        else
            k = wrf(m, "io.bfq.weight", err, "default %" PRIu64, r->blkio_weight);
        if (k < 0)
            return k;
    }
    for (size_t i = 0; i < r->n_weight_devices; i++) {
        const struct cgroup_dev_rate *d = &r->weight_devices[i];
        if (!d->value)
            continue;
        if (plain)
            k = wrf(m, "io.weight", err, "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
                    cgroup_blkio_to_io_weight(d->value));
        else
            k = wrf(m, "io.bfq.weight", err, "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor, d->value);
        if (k < 0)
            return k;
    }
    for (int t = 0; t < CG_THROTTLE_N; t++)
        for (size_t i = 0; i < r->n_throttle[t]; i++) {
            const struct cgroup_dev_rate *d = &r->throttle[t][i];
            if ((k = wrf(m, "io.max", err, "%" PRId64 ":%" PRId64 " %s=%" PRIu64, d->major, d->minor, keys[t],
                         d->value)) < 0)
                return k;
        }
    return 0;
}

static int v2_apply(struct cgroup_manager *m, json_t *resources, struct berth_error *err)
{
    struct cgroup_resources r;
    int k = cgroup_resources_parse(resources, &r, err);
    if (k < 0)
        return k;
    if ((k = v2_memory(m, &r, err)) < 0 || (k = v2_cpu(m, &r, err)) < 0 || (k = v2_io(m, &r, err)) < 0)
        goto out;
    if (r.has_pids) {
        if (r.pids_limit > 0)
            k = wrf(m, "pids.max", err, "%" PRId64, r.pids_limit);
        else
            k = wr(m, "pids.max", "max", err);
        if (k < 0)
            goto out;
    }
    for (size_t i = 0; i < r.n_hugepages; i++) {
        char file[64];
        snprintf(file, sizeof(file), "hugetlb.%s.max", r.hugepages[i].size);
        if ((k = wrf(m, file, err, "%" PRIu64, r.hugepages[i].limit)) < 0)
            goto out;
    }
    if (r.has_devices && (k = cgroup_v2_devices_apply(m, r.devices, r.n_devices, err)) < 0)
        goto out;
    if (r.has_classid || (r.net_priorities && json_array_size(r.net_priorities))) {
        k = berth_error_set(err, -EOPNOTSUPP, "linux.resources.network: net_cls/net_prio do not exist on cgroup v2");
        goto out;
    }
    if (r.unified) {
        const char *key;
        json_t *v;
        json_object_foreach(r.unified, key, v) {
            if ((k = wr(m, key, json_string_value(v), err)) < 0)
                goto out;
        }
    }
    k = 0;
out:
    cgroup_resources_done(&r);
    return k;
}

static int v2_freeze(struct cgroup_manager *m, bool frozen, struct berth_error *err)
{
    int k = wr(m, "cgroup.freeze", frozen ? "1" : "0", err);
    if (k < 0)
        return k;
    k = cgroup_wait_content(m->dir, "cgroup.events", frozen ? "frozen 1" : "frozen 0");
    if (k < 0)
        return berth_error_errno(err, k, "cgroup: waiting for %s to %s", m->dir, frozen ? "freeze" : "thaw");
    return 0;
}

static int v2_is_frozen(struct cgroup_manager *m)
{
    _cleanup_free_ char *s = NULL;
    if (cgroup_read(m->dir, "cgroup.events", &s) < 0)
        return 0;
    return strstr(s, "frozen 1") != NULL;
}

static const char *v2_procs_dir(struct cgroup_manager *m)
{
    return m->dir;
}

int cgroup_v2_read_stats(const char *dir, struct cgroup_stats *s)
{
    _cleanup_free_ char *cpu = NULL, *mem = NULL, *io = NULL;
    uint64_t v;
    if (cgroup_read(dir, "cpu.stat", &cpu) == 0 && cgroup_stat_field(cpu, "usage_usec", &v) == 0)
        s->cpu_usage_ns = v * 1000;
    cgroup_read_u64(dir, "memory.current", &s->memory_usage);
    cgroup_read_u64(dir, "memory.max", &s->memory_limit);
    if (cgroup_read(dir, "memory.stat", &mem) == 0 && cgroup_stat_field(mem, "inactive_file", &v) == 0)
        s->memory_cache = v;
    if (cgroup_read(dir, "io.stat", &io) == 0)
        cgroup_parse_io_v2(io, &s->io_read_bytes, &s->io_write_bytes);
    cgroup_read_u64(dir, "pids.current", &s->pids_current);
    cgroup_read_u64(dir, "pids.max", &s->pids_limit);
    return 0;
}

static int v2_stats(struct cgroup_manager *m, struct cgroup_stats *s, struct berth_error *err)
{
    return cgroup_v2_read_stats(m->dir, s);
}

static int v2_destroy(struct cgroup_manager *m, struct berth_error *err)
{
    int r = cgroup_rmdir_path(m->root, m->path, m->created);
    if (r < 0)
        return berth_error_errno(err, r, "cgroup: removing %s", m->dir);
    return 0;
}

const struct cgroup_ops cgroup_v2_ops = {
    .name = "v2",
    .enter = v2_enter,
    .apply = v2_apply,
    .freeze = v2_freeze,
    .is_frozen = v2_is_frozen,
    .procs_dir = v2_procs_dir,
    .stats = v2_stats,
    .destroy = v2_destroy,
};
