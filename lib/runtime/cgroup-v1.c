/* cgroup v1 backend: one directory per mounted hierarchy (memory, cpu, cpuset, ...). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

/* A new v1 cpuset starts with empty cpus and mems, and the kernel refuses tasks in it (ENOSPC):
 * copy them down from the parent at every level this manager created. */
static int cpuset_init(const struct cgroup_v1_dir *d, struct berth_error *err)
{
    _cleanup_free_ char *cur = strdup(d->dir);
    if (!cur)
        return -ENOMEM;
    /* Walk up to the first created level, then back down. */
    int levels = d->created;
    char *ends[64];
    int n = 0;
    for (int i = 0; i < levels && n < 64; i++) {
        char *slash = strrchr(cur, '/');
        if (!slash)
            break;
        ends[n++] = slash;
        *slash = '\0';
    }
    /* cur is now the deepest pre-existing parent; restore one level at a time. */
    for (int i = n - 1; i >= 0; i--) {
        _cleanup_free_ char *parent = strdup(cur);
        if (!parent)
            return -ENOMEM;
        *ends[i] = '/';
        static const char *files[] = { "cpuset.cpus", "cpuset.mems" };
        for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
            _cleanup_free_ char *mine = NULL, *theirs = NULL;
            if (cgroup_read(cur, files[f], &mine) == 0 && *mine)
                continue;
            int r = cgroup_read(parent, files[f], &theirs);
            if (r < 0)
                return berth_error_errno(err, r, "cgroup: reading %s/%s", parent, files[f]);
            if ((r = cgroup_write(cur, files[f], theirs, err)) < 0)
                return r;
        }
    }
    return 0;
}

static int v1_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int) pid);
    for (size_t i = 0; i < m->n_v1; i++) {
        struct cgroup_v1_dir *d = &m->v1[i];
        int created = 0;
        int r = cgroup_mkdir_path(d->mount, d->rel, &created, err);
        if (r < 0)
            return r;
        if (created > d->created)
            d->created = created;
        if (strstr(d->controllers, "cpuset") && (r = cpuset_init(d, err)) < 0)
            return r;
        if ((r = cgroup_write(d->dir, "cgroup.procs", buf, err)) < 0)
            return r;
    }
    return 0;
}

static int need(const struct cgroup_manager *m, const char *controller, const char **ret, struct berth_error *err)
{
    *ret = cgroup_v1_dir_for(m, controller);
    if (!*ret)
        return berth_error_set(err, -EOPNOTSUPP,
                               "linux.resources: the cgroup v1 '%s' controller is not mounted on this host", controller);
    return 0;
}

static int write_i64(const char *dir, const char *file, int64_t v, struct berth_error *err)
{
    return cgroup_writef(dir, file, err, "%" PRId64, v);
}

static int v1_memory(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    if (!r->mem_limit && !r->mem_reservation && !r->mem_swap && !r->mem_kernel && !r->mem_kernel_tcp &&
        !r->has_swappiness && !r->has_disable_oom)
        return 0;
    const char *dir;
    int k = need(m, "memory", &dir, err);
    if (k < 0)
        return k;
    _cleanup_free_ char *memsw = fs_path_join(dir, "memory.memsw.limit_in_bytes");
    if (!memsw)
        return -ENOMEM;
    bool have_memsw = fs_exists(memsw);
    if (r->mem_swap > 0 && !have_memsw)
        return berth_error_set(err, -EOPNOTSUPP,
                               "linux.resources.memory.swap: this kernel has no swap accounting (memory.memsw.*)");
    /* The kernel keeps limit <= memsw at every step: raise memsw first when it grows, else the
     * limit first. Trying one order and falling back covers both without reading the old values. */
    if (r->mem_limit && r->mem_swap && have_memsw) {
        struct berth_error tmp = { 0 };
        if (write_i64(dir, "memory.memsw.limit_in_bytes", r->mem_swap, &tmp) < 0) {
            if ((k = write_i64(dir, "memory.limit_in_bytes", r->mem_limit, err)) < 0 ||
                (k = write_i64(dir, "memory.memsw.limit_in_bytes", r->mem_swap, err)) < 0)
                return k;
        } else if ((k = write_i64(dir, "memory.limit_in_bytes", r->mem_limit, err)) < 0) {
            return k;
        }
    } else {
        if (r->mem_limit) {
            struct berth_error tmp = { 0 };
            k = write_i64(dir, "memory.limit_in_bytes", r->mem_limit, &tmp);
            uint64_t memsw_now = 0;
            /* An update of the limit alone above the current memory+swap limit: say why. */
            if (k == -EINVAL && have_memsw && cgroup_read_u64(dir, "memory.memsw.limit_in_bytes", &memsw_now) == 0 &&
                r->mem_limit > 0 && (uint64_t) r->mem_limit > memsw_now)
                return berth_error_set(err, -EINVAL,
                                       "linux.resources.memory.limit (%" PRId64 ") is above the container's current "
                                       "memory+swap limit (%" PRIu64 "): set memory.swap as well",
                                       r->mem_limit, memsw_now);
            if (k < 0)
                return berth_error_set(err, k, "%s", tmp.msg);
        }
        if (r->mem_swap && have_memsw && (k = write_i64(dir, "memory.memsw.limit_in_bytes", r->mem_swap, err)) < 0)
            return k;
    }
    if (r->mem_reservation && (k = write_i64(dir, "memory.soft_limit_in_bytes", r->mem_reservation, err)) < 0)
        return k;
    /* Kernel memory limits are deprecated and refused by recent kernels: best effort, as runc. */
    if (r->mem_kernel) {
        struct berth_error tmp = { 0 };
        write_i64(dir, "memory.kmem.limit_in_bytes", r->mem_kernel, &tmp);
    }
    if (r->mem_kernel_tcp && (k = write_i64(dir, "memory.kmem.tcp.limit_in_bytes", r->mem_kernel_tcp, err)) < 0)
        return k;
    if (r->has_swappiness && (k = cgroup_writef(dir, "memory.swappiness", err, "%" PRIu64, r->swappiness)) < 0)
        return k;
    if (r->has_disable_oom && (k = cgroup_write(dir, "memory.oom_control", r->disable_oom ? "1" : "0", err)) < 0)
        return k;
    return 0;
}

static int v1_cpu(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    const char *dir;
    int k;
    if (r->cpu_shares || r->cpu_quota || r->cpu_period || r->cpu_rt_runtime || r->cpu_rt_period ||
        r->has_cpu_idle || r->has_cpu_burst) {
        if ((k = need(m, "cpu", &dir, err)) < 0)
            return k;
        if (r->cpu_shares && (k = cgroup_writef(dir, "cpu.shares", err, "%" PRIu64, r->cpu_shares)) < 0)
            return k;
        /* A period shorter than the current quota allows can be refused until the quota is
         * written, and the other way round: one order, then the other. */
        if (r->cpu_period) {
            struct berth_error tmp = { 0 };
            if (cgroup_writef(dir, "cpu.cfs_period_us", &tmp, "%" PRIu64, r->cpu_period) < 0) {
                if ((k = write_i64(dir, "cpu.cfs_quota_us", r->cpu_quota ? r->cpu_quota : -1, err)) < 0 ||
                    (k = cgroup_writef(dir, "cpu.cfs_period_us", err, "%" PRIu64, r->cpu_period)) < 0)
                    return k;
            }
        }
        if (r->cpu_quota && (k = write_i64(dir, "cpu.cfs_quota_us", r->cpu_quota, err)) < 0)
            return k;
        if (r->has_cpu_burst && (k = cgroup_writef(dir, "cpu.cfs_burst_us", err, "%" PRIu64, r->cpu_burst)) < 0)
            return k;
        if (r->has_cpu_idle && (k = write_i64(dir, "cpu.idle", r->cpu_idle, err)) < 0)
            return k;
        if (r->cpu_rt_period || r->cpu_rt_runtime) {
            _cleanup_free_ char *rt = fs_path_join(dir, "cpu.rt_runtime_us");
            if (!rt)
                return -ENOMEM;
            if (!fs_exists(rt))
                return berth_error_set(err, -EOPNOTSUPP,
                                       "linux.resources.cpu.realtime*: this kernel has no real-time group scheduling");
            if (r->cpu_rt_period && (k = cgroup_writef(dir, "cpu.rt_period_us", err, "%" PRIu64, r->cpu_rt_period)) < 0)
                return k;
            if (r->cpu_rt_runtime && (k = write_i64(dir, "cpu.rt_runtime_us", r->cpu_rt_runtime, err)) < 0)
                return k;
        }
    }
    if (r->cpus || r->mems) {
        if ((k = need(m, "cpuset", &dir, err)) < 0)
            return k;
        if (r->cpus && *r->cpus && (k = cgroup_write(dir, "cpuset.cpus", r->cpus, err)) < 0)
            return k;
        if (r->mems && *r->mems && (k = cgroup_write(dir, "cpuset.mems", r->mems, err)) < 0)
            return k;
    }
    return 0;
}

static int v1_blkio(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    static const char *files[CG_THROTTLE_N] = { "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                                                "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };
    size_t total = r->n_weight_devices;
    for (int i = 0; i < CG_THROTTLE_N; i++)
        total += r->n_throttle[i];
    if (!r->blkio_weight && !r->blkio_leaf_weight && !total)
        return 0;
    const char *dir;
    int k = need(m, "blkio", &dir, err);
    if (k < 0)
        return k;
    /* Kernels with BFQ only (no CFQ) name the weight files blkio.bfq.*. */
    _cleanup_free_ char *plain = fs_path_join(dir, "blkio.weight");
    if (!plain)
        return -ENOMEM;
    bool bfq = !fs_exists(plain);
    if (r->blkio_weight &&
        (k = cgroup_writef(dir, bfq ? "blkio.bfq.weight" : "blkio.weight", err, "%" PRIu64, r->blkio_weight)) < 0)
        return k;
    if (r->blkio_leaf_weight && !bfq &&
        (k = cgroup_writef(dir, "blkio.leaf_weight", err, "%" PRIu64, r->blkio_leaf_weight)) < 0)
        return k;
    for (size_t i = 0; i < r->n_weight_devices; i++) {
        const struct cgroup_dev_rate *d = &r->weight_devices[i];
        if (d->value && (k = cgroup_writef(dir, bfq ? "blkio.bfq.weight_device" : "blkio.weight_device", err,
                                           "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor, d->value)) < 0)
            return k;
        if (d->leaf_weight && !bfq &&
            (k = cgroup_writef(dir, "blkio.leaf_weight_device", err, "%" PRId64 ":%" PRId64 " %" PRIu64, d->major,
                               d->minor, d->leaf_weight)) < 0)
            return k;
    }
    for (int t = 0; t < CG_THROTTLE_N; t++)
        for (size_t i = 0; i < r->n_throttle[t]; i++) {
            const struct cgroup_dev_rate *d = &r->throttle[t][i];
            if ((k = cgroup_writef(dir, files[t], err, "%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
                                   d->value)) < 0)
                return k;
        }
    return 0;
}

static int v1_devices(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    if (!r->has_devices)
        return 0;
    const char *dir;
    int k = need(m, "devices", &dir, err);
    if (k < 0)
        return k;
    for (size_t i = 0; i < r->n_devices; i++) {
        char rule[96];
        cgroup_dev_rule_format(&r->devices[i], rule, sizeof(rule));
        if ((k = cgroup_write(dir, r->devices[i].allow ? "devices.allow" : "devices.deny", rule, err)) < 0)
            return k;
    }
    return 0;
}

static int v1_other(struct cgroup_manager *m, const struct cgroup_resources *r, struct berth_error *err)
{
    const char *dir;
    int k;
    if (r->has_pids) {
        if ((k = need(m, "pids", &dir, err)) < 0)
            return k;
        if (r->pids_limit > 0)
            k = write_i64(dir, "pids.max", r->pids_limit, err);
        else
            k = cgroup_write(dir, "pids.max", "max", err);
        if (k < 0)
            return k;
    }
    for (size_t i = 0; i < r->n_hugepages; i++) {
        if ((k = need(m, "hugetlb", &dir, err)) < 0)
            return k;
        char file[64];
        snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", r->hugepages[i].size);
        if ((k = cgroup_writef(dir, file, err, "%" PRIu64, r->hugepages[i].limit)) < 0)
            return k;
    }
    if (r->has_classid) {
        if ((k = need(m, "net_cls", &dir, err)) < 0)
            return k;
        if ((k = cgroup_writef(dir, "net_cls.classid", err, "%" PRIu64, r->classid)) < 0)
            return k;
    }
    if (r->net_priorities && json_array_size(r->net_priorities)) {
        if ((k = need(m, "net_prio", &dir, err)) < 0)
            return k;
        size_t i;
        json_t *e;
        json_array_foreach(r->net_priorities, i, e) {
            const char *name = NULL;
            json_int_t prio = 0;
            if (json_unpack(e, "{s:s, s:I}", "name", &name, "priority", &prio) < 0 || strchr(name, ' '))
                return berth_error_set(err, -EINVAL, "linux.resources.network.priorities[%zu]: needs name and priority", i);
            if ((k = cgroup_writef(dir, "net_prio.ifpriomap", err, "%s %" PRId64, name, (int64_t) prio)) < 0)
                return k;
        }
    }
    if (r->unified && json_object_size(r->unified))
        return berth_error_set(err, -EOPNOTSUPP,
                               "linux.resources.unified: needs cgroup v2, and this host's controllers are on cgroup v1");
    return 0;
}

static int v1_apply(struct cgroup_manager *m, json_t *resources, struct berth_error *err)
{
    struct cgroup_resources r;
    int k = cgroup_resources_parse(resources, &r, err);
    if (k < 0)
        return k;
    if ((k = v1_memory(m, &r, err)) >= 0 && (k = v1_cpu(m, &r, err)) >= 0 && (k = v1_blkio(m, &r, err)) >= 0 &&
        (k = v1_devices(m, &r, err)) >= 0)
        k = v1_other(m, &r, err);
    cgroup_resources_done(&r);
    return k < 0 ? k : 0;
}

static int v1_freeze(struct cgroup_manager *m, bool frozen, struct berth_error *err)
{
    const char *dir;
    int k = need(m, "freezer", &dir, err);
    if (k < 0)
        return k;
    const char *want = frozen ? "FROZEN" : "THAWED";
    if ((k = cgroup_write(dir, "freezer.state", want, err)) < 0)
        return k;
    k = cgroup_wait_content(dir, "freezer.state", want);
    if (k < 0)
        return berth_error_errno(err, k, "cgroup: waiting for %s/freezer.state to become %s", dir, want);
    return 0;
}

static int v1_is_frozen(struct cgroup_manager *m)
{
    const char *dir = cgroup_v1_dir_for(m, "freezer");
    _cleanup_free_ char *s = NULL;
    if (!dir || cgroup_read(dir, "freezer.state", &s) < 0)
        return 0;
    return strcmp(s, "FROZEN") == 0;
}

static const char *v1_procs_dir(struct cgroup_manager *m)
{
    static const char *prefer[] = { "pids", "freezer", "memory", "cpu" };
    for (size_t i = 0; i < ARRAY_SIZE(prefer); i++) {
        const char *d = cgroup_v1_dir_for(m, prefer[i]);
        if (d)
            return d;
    }
    return m->n_v1 ? m->v1[0].dir : NULL;
}

static int v1_stats(struct cgroup_manager *m, struct cgroup_stats *s, struct berth_error *err)
{
    const char *dir;
    if ((dir = cgroup_v1_dir_for(m, "cpuacct")))
        cgroup_read_u64(dir, "cpuacct.usage", &s->cpu_usage_ns);
    if ((dir = cgroup_v1_dir_for(m, "memory"))) {
        cgroup_read_u64(dir, "memory.usage_in_bytes", &s->memory_usage);
        uint64_t lim = UINT64_MAX;
        /* v1 reports "unlimited" as the largest page-aligned signed value. */
        if (cgroup_read_u64(dir, "memory.limit_in_bytes", &lim) == 0 && lim < (UINT64_C(1) << 62))
            s->memory_limit = lim;
        _cleanup_free_ char *stat = NULL;
        uint64_t v;
        if (cgroup_read(dir, "memory.stat", &stat) == 0 && cgroup_stat_field(stat, "total_inactive_file", &v) == 0)
            s->memory_cache = v;
    }
    if ((dir = cgroup_v1_dir_for(m, "blkio"))) {
        _cleanup_free_ char *io = NULL;
        if (cgroup_read(dir, "blkio.throttle.io_service_bytes_recursive", &io) == 0 ||
            cgroup_read(dir, "blkio.throttle.io_service_bytes", &io) == 0)
            cgroup_parse_io_v1(io, &s->io_read_bytes, &s->io_write_bytes);
    }
    if ((dir = cgroup_v1_dir_for(m, "pids"))) {
        cgroup_read_u64(dir, "pids.current", &s->pids_current);
        cgroup_read_u64(dir, "pids.max", &s->pids_limit);
    }
    return 0;
}

static int v1_destroy(struct cgroup_manager *m, struct berth_error *err)
{
    int ret = 0;
    for (size_t i = 0; i < m->n_v1; i++) {
        int r = cgroup_rmdir_path(m->v1[i].mount, m->v1[i].rel, m->v1[i].created);
        if (r < 0 && ret == 0)
            ret = berth_error_errno(err, r, "cgroup: removing %s", m->v1[i].dir);
    }
    return ret;
}

const struct cgroup_ops cgroup_v1_ops = {
    .name = "v1",
    .enter = v1_enter,
    .apply = v1_apply,
    .freeze = v1_freeze,
    .is_frozen = v1_is_frozen,
    .procs_dir = v1_procs_dir,
    .stats = v1_stats,
    .destroy = v1_destroy,
};
