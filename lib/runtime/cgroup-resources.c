/* linux.resources: parsed and validated in one place, so both backends see the same values and a
 * bad field fails before anything is written. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

#define W "linux.resources"

void cgroup_resources_done(struct cgroup_resources *r)
{
    free(r->weight_devices);
    for (int i = 0; i < CG_THROTTLE_N; i++)
        free(r->throttle[i]);
    free(r->hugepages);
    free(r->devices);
    memset(r, 0, sizeof(*r));
}

static int parse_memory(json_t *o, struct cgroup_resources *r, struct berth_error *err)
{
    int k;
    if ((k = json_opt_int64(o, "limit", W ".memory", &r->mem_limit, err)) < 0 ||
        (k = json_opt_int64(o, "reservation", W ".memory", &r->mem_reservation, err)) < 0 ||
        (k = json_opt_int64(o, "swap", W ".memory", &r->mem_swap, err)) < 0 ||
        (k = json_opt_int64(o, "kernel", W ".memory", &r->mem_kernel, err)) < 0 ||
        (k = json_opt_int64(o, "kernelTCP", W ".memory", &r->mem_kernel_tcp, err)) < 0 ||
        (k = json_opt_bool(o, "disableOOMKiller", W ".memory", &r->disable_oom, err)) < 0)
        return k;
    r->has_disable_oom = json_object_get(o, "disableOOMKiller") != NULL;
    if (json_object_get(o, "swappiness") && !json_is_null(json_object_get(o, "swappiness"))) {
        if ((k = json_opt_uint64(o, "swappiness", W ".memory", &r->swappiness, err)) < 0)
            return k;
        if (r->swappiness > 100)
            return berth_error_set(err, -EINVAL, W ".memory.swappiness: %" PRIu64 " is not in 0..100", r->swappiness);
        r->has_swappiness = true;
    }
    int64_t *vals[] = { &r->mem_limit, &r->mem_reservation, &r->mem_swap, &r->mem_kernel, &r->mem_kernel_tcp };
    static const char *names[] = { "limit", "reservation", "swap", "kernel", "kernelTCP" };
    for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
        if (*vals[i] < -1)
            return berth_error_set(err, -EINVAL, W ".memory.%s: %" PRId64 " is negative (only -1, unlimited, is allowed)",
                                   names[i], *vals[i]);
    if (r->mem_limit > 0 && r->mem_swap > 0 && r->mem_swap < r->mem_limit)
        return berth_error_set(err, -EINVAL, W ".memory.swap (%" PRId64 ") must not be lower than memory.limit (%" PRId64 ")",
                               r->mem_swap, r->mem_limit);
    return 0;
}

static int parse_cpu(json_t *o, struct cgroup_resources *r, struct berth_error *err)
{
    int k;
    if ((k = json_opt_uint64(o, "shares", W ".cpu", &r->cpu_shares, err)) < 0 ||
        (k = json_opt_int64(o, "quota", W ".cpu", &r->cpu_quota, err)) < 0 ||
        (k = json_opt_uint64(o, "period", W ".cpu", &r->cpu_period, err)) < 0 ||
        (k = json_opt_int64(o, "realtimeRuntime", W ".cpu", &r->cpu_rt_runtime, err)) < 0 ||
        (k = json_opt_uint64(o, "realtimePeriod", W ".cpu", &r->cpu_rt_period, err)) < 0 ||
        (k = json_opt_string(o, "cpus", W ".cpu", &r->cpus, err)) < 0 ||
        (k = json_opt_string(o, "mems", W ".cpu", &r->mems, err)) < 0)
        return k;
    if (json_object_get(o, "idle") && !json_is_null(json_object_get(o, "idle"))) {
        if ((k = json_opt_int64(o, "idle", W ".cpu", &r->cpu_idle, err)) < 0)
            return k;
        r->has_cpu_idle = true;
    }
    if (json_object_get(o, "burst") && !json_is_null(json_object_get(o, "burst"))) {
        if ((k = json_opt_uint64(o, "burst", W ".cpu", &r->cpu_burst, err)) < 0)
            return k;
        r->has_cpu_burst = true;
    }
    if (r->cpu_quota < -1)
        return berth_error_set(err, -EINVAL, W ".cpu.quota: %" PRId64 " is invalid", r->cpu_quota);
    if (r->cpu_period && (r->cpu_period < 1000 || r->cpu_period > 1000000))
        return berth_error_set(err, -EINVAL, W ".cpu.period: %" PRIu64 " is not in 1000..1000000 (microseconds)",
                               r->cpu_period);
    if (r->cpu_quota > 0 && r->cpu_quota < 1000)
        return berth_error_set(err, -EINVAL, W ".cpu.quota: %" PRId64 " is below the kernel's minimum of 1000", r->cpu_quota);
    return 0;
}

/* Reads a spec device entry's major/minor: absent or -1 means "any". */
static int dev_numbers(json_t *e, const char *what, int64_t *major, int64_t *minor, bool required,
                       struct berth_error *err)
{
    *major = -1;
    *minor = -1;
    int k;
    if ((k = json_opt_int64(e, "major", what, major, err)) < 0 || (k = json_opt_int64(e, "minor", what, minor, err)) < 0)
        return k;
    if (required && (*major < 0 || *minor < 0))
        return berth_error_set(err, -EINVAL, "%s: major and minor are required", what);
    if (*major < -1 || *minor < -1 || *major > UINT32_MAX || *minor > UINT32_MAX)
        return berth_error_set(err, -EINVAL, "%s: invalid device number", what);
    return 0;
}

static int parse_rates(json_t *o, const char *key, struct cgroup_dev_rate **ret, size_t *ret_n, bool weight,
                       struct berth_error *err)
{
    json_t *arr = NULL;
    char what[128];
    snprintf(what, sizeof(what), W ".blockIO.%s", key);
    int k = json_opt_array(o, key, W ".blockIO", &arr, err);
    if (k < 0 || !arr)
        return k;
    if (json_array_size(arr) > 4096)
        return berth_error_set(err, -E2BIG, "%s: too many entries", what);
    struct cgroup_dev_rate *v = calloc(json_array_size(arr) + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    *ret = v;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        snprintf(what, sizeof(what), W ".blockIO.%s[%zu]", key, i);
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", what);
        if ((k = dev_numbers(e, what, &v[i].major, &v[i].minor, true, err)) < 0)
            return k;
        if (weight) {
            if ((k = json_opt_uint64(e, "weight", what, &v[i].value, err)) < 0 ||
                (k = json_opt_uint64(e, "leafWeight", what, &v[i].leaf_weight, err)) < 0)
                return k;
        } else {
            json_t *rate = json_object_get(e, "rate");
            if (!rate)
                return berth_error_set(err, -EINVAL, "%s: rate is required", what);
            if ((k = json_opt_uint64(e, "rate", what, &v[i].value, err)) < 0)
                return k;
        }
        (*ret_n)++;
    }
    return 0;
}

static int parse_blockio(json_t *o, struct cgroup_resources *r, struct berth_error *err)
{
    static const char *keys[CG_THROTTLE_N] = { "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                               "throttleReadIOPSDevice", "throttleWriteIOPSDevice" };
    int k;
    if ((k = json_opt_uint64(o, "weight", W ".blockIO", &r->blkio_weight, err)) < 0 ||
        (k = json_opt_uint64(o, "leafWeight", W ".blockIO", &r->blkio_leaf_weight, err)) < 0)
        return k;
    if (r->blkio_weight && (r->blkio_weight < 10 || r->blkio_weight > 1000))
        return berth_error_set(err, -EINVAL, W ".blockIO.weight: %" PRIu64 " is not in 10..1000", r->blkio_weight);
    if ((k = parse_rates(o, "weightDevice", &r->weight_devices, &r->n_weight_devices, true, err)) < 0)
        return k;
    for (int i = 0; i < CG_THROTTLE_N; i++)
        if ((k = parse_rates(o, keys[i], &r->throttle[i], &r->n_throttle[i], false, err)) < 0)
            return k;
    return 0;
}

static int parse_hugepages(json_t *arr, struct cgroup_resources *r, struct berth_error *err)
{
    if (!json_is_array(arr))
        return berth_error_set(err, -EINVAL, W ".hugepageLimits: must be an array");
    if (json_array_size(arr) > 64)
        return berth_error_set(err, -E2BIG, W ".hugepageLimits: too many entries");
    r->hugepages = calloc(json_array_size(arr) + 1, sizeof(*r->hugepages));
    if (!r->hugepages)
        return -ENOMEM;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *size = NULL;
        json_int_t limit = 0;
        if (json_unpack(e, "{s:s, s:I}", "pageSize", &size, "limit", &limit) < 0)
            return berth_error_set(err, -EINVAL, W ".hugepageLimits[%zu]: needs a pageSize string and a limit", i);
        if (!cgroup_hugepage_size_valid(size))
            return berth_error_set(err, -EINVAL, W ".hugepageLimits[%zu].pageSize: '%s' is not a size like 2MB", i, size);
        r->hugepages[i].size = size;
        r->hugepages[i].limit = (uint64_t) limit;
        r->n_hugepages++;
    }
    return 0;
}

/* Appended after the spec's rules, as runc and crun do: the device nodes every container gets
 * (null, zero, full, random, urandom, tty, console, ptmx, pts, tun) stay usable whatever the
 * spec denies, and mknod stays allowed (creating a node does not grant access to it). podman
 * and containerd only send a deny-all rule and rely on this list, so `-t` needs ptmx and pts. */
static const struct cgroup_dev_rule default_allowed[] = {
    { true, 'c', -1, -1, "m" },  { true, 'b', -1, -1, "m" },  { true, 'c', 1, 3, "rwm" },
    { true, 'c', 1, 5, "rwm" },  { true, 'c', 1, 7, "rwm" },  { true, 'c', 1, 8, "rwm" },
    { true, 'c', 1, 9, "rwm" },  { true, 'c', 5, 0, "rwm" },  { true, 'c', 5, 1, "rwm" },
    { true, 'c', 5, 2, "rwm" },  { true, 'c', 136, -1, "rwm" }, { true, 'c', 10, 200, "rwm" },
};

static int parse_devices(json_t *arr, struct cgroup_resources *r, struct berth_error *err)
{
    if (!json_is_array(arr))
        return berth_error_set(err, -EINVAL, W ".devices: must be an array");
    if (json_array_size(arr) > 4096)
        return berth_error_set(err, -E2BIG, W ".devices: too many entries");
    r->devices = calloc(json_array_size(arr) + ARRAY_SIZE(default_allowed) + 1, sizeof(*r->devices));
    if (!r->devices)
        return -ENOMEM;
    r->has_devices = true;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char what[64];
        snprintf(what, sizeof(what), W ".devices[%zu]", i);
        struct cgroup_dev_rule *d = &r->devices[i];
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", what);
        json_t *allow = json_object_get(e, "allow");
        if (!json_is_boolean(allow))
            return berth_error_set(err, -EINVAL, "%s.allow: required boolean", what);
        d->allow = json_is_true(allow);
        const char *type = "a", *access = "rwm";
        int k;
        if ((k = json_opt_string(e, "type", what, &type, err)) < 0 ||
            (k = json_opt_string(e, "access", what, &access, err)) < 0 ||
            (k = dev_numbers(e, what, &d->major, &d->minor, false, err)) < 0)
            return k;
        if (strlen(type) != 1 || !strchr("abc", type[0]))
            return berth_error_set(err, -EINVAL, "%s.type: '%s' is not a, b or c", what, type);
        d->type = type[0];
        if (!*access)
            access = "rwm";
        if (strlen(access) > 3 || strspn(access, "rwm") != strlen(access))
            return berth_error_set(err, -EINVAL, "%s.access: '%s' is not made of r, w, m", what, access);
        memcpy(d->access, access, strlen(access) + 1);
        r->n_devices++;
    }
    if (r->n_devices) {
        memcpy(r->devices + r->n_devices, default_allowed, sizeof(default_allowed));
        r->n_devices += ARRAY_SIZE(default_allowed);
    }
    return 0;
}

int cgroup_resources_parse(json_t *res, struct cgroup_resources *ret, struct berth_error *err)
{
    struct cgroup_resources r = { 0 };
    json_t *o = NULL;
    int k = 0;
    if (!json_is_object(res))
        return berth_error_set(err, -EINVAL, W ": must be an object");
    if ((k = json_opt_object(res, "memory", W, &o, err)) < 0 || (o && (k = parse_memory(o, &r, err)) < 0))
        goto fail;
    o = NULL;
    if ((k = json_opt_object(res, "cpu", W, &o, err)) < 0 || (o && (k = parse_cpu(o, &r, err)) < 0))
        goto fail;
    o = NULL;
    if ((k = json_opt_object(res, "pids", W, &o, err)) < 0)
        goto fail;
    if (o) {
        if (!json_is_integer(json_object_get(o, "limit"))) {
            k = berth_error_set(err, -EINVAL, W ".pids.limit: required integer");
            goto fail;
        }
        r.pids_limit = json_integer_value(json_object_get(o, "limit"));
        r.has_pids = true;
    }
    o = NULL;
    if ((k = json_opt_object(res, "blockIO", W, &o, err)) < 0 || (o && (k = parse_blockio(o, &r, err)) < 0))
        goto fail;
    json_t *hp = json_object_get(res, "hugepageLimits");
    if (hp && !json_is_null(hp) && (k = parse_hugepages(hp, &r, err)) < 0)
        goto fail;
    json_t *dev = json_object_get(res, "devices");
    if (dev && !json_is_null(dev) && (k = parse_devices(dev, &r, err)) < 0)
        goto fail;
    o = NULL;
    if ((k = json_opt_object(res, "network", W, &o, err)) < 0)
        goto fail;
    if (o) {
        if (json_object_get(o, "classID")) {
            if ((k = json_opt_uint64(o, "classID", W ".network", &r.classid, err)) < 0)
                goto fail;
            r.has_classid = true;
        }
        if ((k = json_opt_array(o, "priorities", W ".network", &r.net_priorities, err)) < 0)
            goto fail;
    }
    json_t *rdma = json_object_get(res, "rdma");
    if (rdma && !json_is_null(rdma) && (!json_is_object(rdma) || json_object_size(rdma))) {
        k = berth_error_set(err, -EOPNOTSUPP, W ".rdma: RDMA limits are not supported");
        goto fail;
    }
    if ((k = json_opt_object(res, "unified", W, &r.unified, err)) < 0)
        goto fail;
    if (r.unified) {
        const char *key;
        json_t *v;
        json_object_foreach(r.unified, key, v) {
            if (!*key || strchr(key, '/') || key[0] == '.') {
                k = berth_error_set(err, -EINVAL, W ".unified: '%s' is not a cgroup file name", key);
                goto fail;
            }
            if (!json_is_string(v)) {
                k = berth_error_set(err, -EINVAL, W ".unified.%s: must be a string", key);
                goto fail;
            }
        }
    }
    *ret = r;
    return 0;
fail:
    cgroup_resources_done(&r);
    return k;
}

void cgroup_dev_rule_format(const struct cgroup_dev_rule *d, char *buf, size_t len)
{
    char maj[24], min[24];
    if (d->major < 0)
        snprintf(maj, sizeof(maj), "*");
    else
        snprintf(maj, sizeof(maj), "%" PRId64, d->major);
    if (d->minor < 0)
        snprintf(min, sizeof(min), "*");
    else
        snprintf(min, sizeof(min), "%" PRId64, d->minor);
    snprintf(buf, len, "%c %s:%s %s", d->type, maj, min, d->access);
}
