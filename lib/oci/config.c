/* config.json: top level, root, mounts and the "linux" section. */
#include "oci/config.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/json.h"
#include "oci/config-util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
    const char *spec, *proc;
    int flag;
} ns_kinds[OCI_NS_COUNT] = {
    [OCI_NS_USER] = { "user", "user", CLONE_NEWUSER },
    [OCI_NS_MOUNT] = { "mount", "mnt", CLONE_NEWNS },
    [OCI_NS_PID] = { "pid", "pid", CLONE_NEWPID },
    [OCI_NS_NETWORK] = { "network", "net", CLONE_NEWNET },
    [OCI_NS_IPC] = { "ipc", "ipc", CLONE_NEWIPC },
    [OCI_NS_UTS] = { "uts", "uts", CLONE_NEWUTS },
    [OCI_NS_CGROUP] = { "cgroup", "cgroup", CLONE_NEWCGROUP },
    [OCI_NS_TIME] = { "time", "time", CLONE_NEWTIME },
};

const char *oci_ns_name(enum oci_ns_kind k)
{
    return k < OCI_NS_COUNT ? ns_kinds[k].spec : "?";
}

int oci_ns_clone_flag(enum oci_ns_kind k)
{
    return k < OCI_NS_COUNT ? ns_kinds[k].flag : 0;
}

const char *oci_ns_proc_name(enum oci_ns_kind k)
{
    return k < OCI_NS_COUNT ? ns_kinds[k].proc : "?";
}

bool oci_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 1024 || !strcmp(id, ".") || !strcmp(id, ".."))
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.' || *p == '+'))
            return false;
    return true;
}

static int parse_namespaces(json_t *linux_, struct oci_config *c, struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(linux_, "namespaces", "linux", &arr, err);
    if (r < 0 || !arr)
        return r;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char field[64];
        snprintf(field, sizeof(field), "linux.namespaces[%zu]", i);
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", field);
        const char *type = NULL, *path = NULL;
        if ((r = oci_json_req_string(e, "type", field, &type, err)) < 0 ||
            (r = json_opt_string(e, "path", field, &path, err)) < 0)
            return r;
        int k;
        for (k = 0; k < OCI_NS_COUNT; k++)
            if (!strcmp(type, ns_kinds[k].spec))
                break;
        if (k == OCI_NS_COUNT)
            return berth_error_set(err, -EINVAL,
                                   "%s.type: unknown namespace type '%s' (expected pid, network, mount, ipc, "
                                   "uts, user, cgroup or time)", field, type);
        if (c->ns[k].present)
            return berth_error_set(err, -EINVAL, "%s: namespace '%s' is listed twice", field, type);
        if (path && !*path)
            path = NULL;
        if (path && path[0] != '/')
            return berth_error_set(err, -EINVAL, "%s.path: '%s' must be an absolute path", field, path);
        if (path) {
            struct stat st;
            if (stat(path, &st) < 0)
                return berth_error_errno(err, -errno, "%s.path: %s", field, path);
        }
        c->ns[k].present = true;
        c->ns[k].path = path;
    }
    return 0;
}

static int parse_idmaps(json_t *linux_, const char *key, struct oci_idmap **ret, size_t *ret_n,
                        struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(linux_, key, "linux", &arr, err);
    if (r < 0 || !arr)
        return r;
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    if (n > 340)
        return berth_error_set(err, -E2BIG, "linux.%s: at most 340 ranges are allowed", key);
    struct oci_idmap *m = calloc(n, sizeof(*m));
    if (!m)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char field[64];
        snprintf(field, sizeof(field), "linux.%s[%zu]", key, i);
        if (!json_is_object(e)) {
            free(m);
            return berth_error_set(err, -EINVAL, "%s: must be an object", field);
        }
        bool have_c = false, have_h = false, have_s = false;
        if ((r = oci_json_opt_u32(e, "containerID", field, &m[i].container_id, &have_c, err)) < 0 ||
            (r = oci_json_opt_u32(e, "hostID", field, &m[i].host_id, &have_h, err)) < 0 ||
            (r = oci_json_opt_u32(e, "size", field, &m[i].size, &have_s, err)) < 0) {
            free(m);
            return r;
        }
        if (!have_c || !have_h || !have_s) {
            free(m);
            return berth_error_set(err, -EINVAL, "%s: containerID, hostID and size are required", field);
        }
        if (m[i].size == 0 || (uint64_t) m[i].container_id + m[i].size > (uint64_t) UINT32_MAX + 1 ||
            (uint64_t) m[i].host_id + m[i].size > (uint64_t) UINT32_MAX + 1) {
            uint32_t size = m[i].size;
            free(m);
            return berth_error_set(err, -EINVAL, "%s: size %u is zero or runs past the 32-bit id range",
                                   field, size);
        }
        for (size_t j = 0; j < i; j++) {
            bool cover = m[i].container_id < m[j].container_id + m[j].size &&
                         m[j].container_id < m[i].container_id + m[i].size;
            bool hover = m[i].host_id < m[j].host_id + m[j].size && m[j].host_id < m[i].host_id + m[i].size;
            if (cover || hover) {
                free(m);
                return berth_error_set(err, -EINVAL, "%s: overlaps %s[%zu] (%s ids)", field, key, j,
                                       cover ? "container" : "host");
            }
        }
    }
    *ret = m;
    *ret_n = n;
    return 0;
}

static int parse_paths(json_t *linux_, const char *key, const char ***ret, size_t *ret_n,
                       struct berth_error *err)
{
    char **v = NULL;
    int r = oci_json_strv(linux_, key, "linux", &v, err);
    if (r < 0 || !v)
        return r;
    size_t n = 0;
    for (; v[n]; n++)
        if (v[n][0] != '/') {
            r = berth_error_set(err, -EINVAL, "linux.%s[%zu]: '%s' must be an absolute path", key, n, v[n]);
            free(v);
            return r;
        }
    *ret = (const char **) v;
    *ret_n = n;
    return 0;
}

static int parse_devices(json_t *linux_, struct oci_config *c, struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(linux_, "devices", "linux", &arr, err);
    if (r < 0 || !arr)
        return r;
    size_t n = json_array_size(arr);
    if (n > 4096)
        return berth_error_set(err, -E2BIG, "linux.devices: too many entries");
    c->devices = calloc(n ? n : 1, sizeof(*c->devices));
    if (!c->devices)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char field[64];
        snprintf(field, sizeof(field), "linux.devices[%zu]", i);
        struct oci_device *d = &c->devices[i];
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", field);
        const char *type = NULL;
        if ((r = oci_json_req_string(e, "path", field, &d->path, err)) < 0 ||
            (r = oci_json_req_string(e, "type", field, &type, err)) < 0)
            return r;
        if (d->path[0] != '/' || !strcmp(d->path, "/"))
            return berth_error_set(err, -EINVAL, "%s.path: '%s' must be an absolute file path", field, d->path);
        if (strlen(type) != 1 || !strchr("cbup", type[0]))
            return berth_error_set(err, -EINVAL, "%s.type: '%s' must be c, b, u or p", field, type);
        d->type = type[0] == 'u' ? 'c' : type[0];
        d->major = d->minor = -1;
        if ((r = json_opt_int64(e, "major", field, &d->major, err)) < 0 ||
            (r = json_opt_int64(e, "minor", field, &d->minor, err)) < 0)
            return r;
        if (d->type != 'p' && (d->major < 0 || d->minor < 0 || d->major > 4095 || d->minor > 1048575))
            return berth_error_set(err, -EINVAL, "%s: major and minor are required for type %c", field, d->type);
        if ((r = oci_json_opt_u32(e, "fileMode", field, &d->mode, &d->has_mode, err)) < 0 ||
            (r = oci_json_opt_u32(e, "uid", field, &d->uid, &d->has_uid, err)) < 0 ||
            (r = oci_json_opt_u32(e, "gid", field, &d->gid, &d->has_gid, err)) < 0)
            return r;
        c->n_devices++;
    }
    return 0;
}

static int parse_mounts(json_t *root, struct oci_config *c, struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(root, "mounts", "config", &arr, err);
    if (r < 0 || !arr)
        return r;
    size_t n = json_array_size(arr);
    if (n > 4096)
        return berth_error_set(err, -E2BIG, "mounts: too many entries");
    c->mounts = calloc(n ? n : 1, sizeof(*c->mounts));
    if (!c->mounts)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char field[64];
        snprintf(field, sizeof(field), "mounts[%zu]", i);
        struct oci_mount *m = &c->mounts[i];
        c->n_mounts++;
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", field);
        if ((r = oci_json_req_string(e, "destination", field, &m->destination, err)) < 0 ||
            (r = json_opt_string(e, "type", field, &m->type, err)) < 0 ||
            (r = json_opt_string(e, "source", field, &m->source, err)) < 0)
            return r;
        if (m->destination[0] != '/')
            return berth_error_set(err, -EINVAL, "%s.destination: '%s' must be an absolute path", field,
                                   m->destination);
        if ((r = oci_mount_parse_options(json_object_get(e, "options"), field, m, err)) < 0)
            return r;
        if (m->type && !strcmp(m->type, "bind"))
            m->bind = true;
        if (m->type && !*m->type)
            m->type = NULL;
        if (m->bind && (!m->source || !*m->source))
            return berth_error_set(err, -EINVAL, "%s.source: a bind mount needs a source", field);
        if (!m->bind && !m->type)
            return berth_error_set(err, -EINVAL, "%s.type: missing (and not a bind mount)", field);
        if (json_object_get(e, "uidMappings") || json_object_get(e, "gidMappings"))
            return berth_error_set(err, -EOPNOTSUPP, "%s: idmapped mounts are not supported", field);
    }
    return 0;
}

static int parse_root(json_t *root, const char *bundle, struct oci_config *c, struct berth_error *err)
{
    json_t *r_obj = NULL;
    int r = json_opt_object(root, "root", "config", &r_obj, err);
    if (r < 0)
        return r;
    if (!r_obj)
        return berth_error_set(err, -EINVAL, "root: missing (the container's root filesystem)");
    const char *path = NULL;
    if ((r = oci_json_req_string(r_obj, "path", "root", &path, err)) < 0 ||
        (r = json_opt_bool(r_obj, "readonly", "root", &c->rootfs_readonly, err)) < 0)
        return r;
    if (!*path)
        return berth_error_set(err, -EINVAL, "root.path: must not be empty");
    if (!bundle)
        return 0;
    _cleanup_free_ char *joined = path[0] == '/' ? strdup(path) : fs_path_join(bundle, path);
    if (!joined)
        return -ENOMEM;
    char *real = realpath(joined, NULL);
    if (!real)
        return berth_error_errno(err, -errno, "root.path: %s", joined);
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return berth_error_set(err, -ENOTDIR, "root.path: %s is not a directory", joined);
    }
    c->rootfs = real;
    return 0;
}

static int parse_propagation(const char *s, unsigned long *ret, struct berth_error *err)
{
    static const struct {
        const char *name;
        unsigned long flags;
    } p[] = {
        { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
        { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
        { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
        { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
    };
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        if (!strcmp(s, p[i].name)) {
            *ret = p[i].flags;
            return 0;
        }
    return berth_error_set(err, -EINVAL, "linux.rootfsPropagation: unknown value '%s'", s);
}

static int check_string_object(json_t *o, const char *what, struct berth_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!json_is_string(v))
            return berth_error_set(err, -EINVAL, "%s.%s: must be a string", what, k);
    }
    return 0;
}

static int parse_linux(json_t *root, struct oci_config *c, struct berth_error *err)
{
    json_t *l = NULL;
    int r = json_opt_object(root, "linux", "config", &l, err);
    if (r < 0 || !l)
        return r;
    const char *prop = NULL;
    if ((r = parse_namespaces(l, c, err)) < 0 ||
        (r = parse_idmaps(l, "uidMappings", &c->uid_mappings, &c->n_uid_mappings, err)) < 0 ||
        (r = parse_idmaps(l, "gidMappings", &c->gid_mappings, &c->n_gid_mappings, err)) < 0 ||
        (r = parse_devices(l, c, err)) < 0 ||
        (r = parse_paths(l, "maskedPaths", &c->masked_paths, &c->n_masked_paths, err)) < 0 ||
        (r = parse_paths(l, "readonlyPaths", &c->readonly_paths, &c->n_readonly_paths, err)) < 0 ||
        (r = json_opt_object(l, "sysctl", "linux", &c->sysctl, err)) < 0 ||
        (r = json_opt_object(l, "resources", "linux", &c->resources, err)) < 0 ||
        (r = json_opt_object(l, "seccomp", "linux", &c->seccomp, err)) < 0 ||
        (r = json_opt_object(l, "timeOffsets", "linux", &c->time_offsets, err)) < 0 ||
        (r = json_opt_string(l, "cgroupsPath", "linux", &c->cgroups_path, err)) < 0 ||
        (r = json_opt_string(l, "rootfsPropagation", "linux", &prop, err)) < 0)
        return r;
    if (c->sysctl && (r = check_string_object(c->sysctl, "linux.sysctl", err)) < 0)
        return r;
    if (prop && *prop && (r = parse_propagation(prop, &c->rootfs_propagation, err)) < 0)
        return r;
    if (c->cgroups_path && !*c->cgroups_path)
        c->cgroups_path = NULL;
    if (c->time_offsets) {
        const char *k;
        json_t *v;
        json_object_foreach(c->time_offsets, k, v) {
            if (strcmp(k, "monotonic") && strcmp(k, "boottime"))
                return berth_error_set(err, -EINVAL, "linux.timeOffsets.%s: unknown clock (monotonic or boottime)", k);
            int64_t secs = 0, ns = 0;
            char field[64];
            snprintf(field, sizeof(field), "linux.timeOffsets.%s", k);
            if ((r = json_opt_int64(v, "secs", field, &secs, err)) < 0 ||
                (r = json_opt_int64(v, "nanosecs", field, &ns, err)) < 0)
                return r;
            if (ns < 0 || ns >= 1000000000)
                return berth_error_set(err, -EINVAL, "%s.nanosecs: must be below 1000000000", field);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v) {
        if (!strcmp(k, "intelRdt") && !json_is_null(v))
            return berth_error_set(err, -EOPNOTSUPP, "linux.intelRdt: not supported by berth-oci");
    }
    return 0;
}

static int validate(struct oci_config *c, struct berth_error *err)
{
    const struct oci_namespace *user = &c->ns[OCI_NS_USER];
    bool maps = c->n_uid_mappings || c->n_gid_mappings;
    if (maps && !user->present)
        return berth_error_set(err, -EINVAL, "linux.uidMappings: given without a user namespace in linux.namespaces");
    if (user->present && !user->path && (!c->n_uid_mappings || !c->n_gid_mappings))
        return berth_error_set(err, -EINVAL, "linux.%s: a new user namespace needs uid and gid mappings",
                               c->n_uid_mappings ? "gidMappings" : "uidMappings");
    if (user->present && user->path && maps)
        return berth_error_set(err, -EINVAL, "linux.uidMappings: cannot be given when joining a user namespace by path");
    if ((c->hostname || c->domainname) && (!c->ns[OCI_NS_UTS].present || c->ns[OCI_NS_UTS].path))
        return berth_error_set(err, -EINVAL, "%s: setting it needs a new uts namespace",
                               c->hostname ? "hostname" : "domainname");
    if (c->time_offsets && (!c->ns[OCI_NS_TIME].present || c->ns[OCI_NS_TIME].path))
        return berth_error_set(err, -EINVAL, "linux.timeOffsets: needs a new time namespace");
    if (c->sysctl && json_object_size(c->sysctl)) {
        const char *k;
        json_t *v;
        json_object_foreach(c->sysctl, k, v) {
            if (!*k || strstr(k, "..") || strchr(k, '/') == k)
                return berth_error_set(err, -EINVAL, "linux.sysctl: invalid key '%s'", k);
            bool net = !strncmp(k, "net.", 4), ipc = !strncmp(k, "kernel.msg", 10) ||
                       !strncmp(k, "kernel.sem", 10) || !strncmp(k, "kernel.shm", 10) ||
                       !strncmp(k, "fs.mqueue.", 10);
            bool uts = !strcmp(k, "kernel.hostname") || !strcmp(k, "kernel.domainname");
            if (net && (!c->ns[OCI_NS_NETWORK].present))
                return berth_error_set(err, -EINVAL, "linux.sysctl.%s: needs a network namespace", k);
            if (ipc && (!c->ns[OCI_NS_IPC].present))
                return berth_error_set(err, -EINVAL, "linux.sysctl.%s: needs an ipc namespace", k);
            if (uts && (!c->ns[OCI_NS_UTS].present))
                return berth_error_set(err, -EINVAL, "linux.sysctl.%s: needs a uts namespace", k);
            if (!net && !ipc && !uts)
                return berth_error_set(err, -EPERM, "linux.sysctl.%s: not namespaced, refused", k);
        }
    }
    return 0;
}

int oci_config_from_json(json_t *json, const char *bundle, const char *what, struct oci_config **ret,
                         struct berth_error *err)
{
    if (!json_is_object(json))
        return berth_error_set(err, -EINVAL, "%s: must be a JSON object", what);
    _cleanup_(oci_runtime_config_freep) struct oci_config *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->json = json_incref(json);
    if (bundle && !(c->bundle = strdup(bundle)))
        return -ENOMEM;
    int r;
    if ((r = oci_json_req_string(json, "ociVersion", "config", &c->oci_version, err)) < 0)
        return berth_error_prefix(err, r, "%s: ", what);
    if (strncmp(c->oci_version, "1.", 2))
        return berth_error_set(err, -EINVAL, "%s: ociVersion: '%s' is not a 1.x runtime-spec version", what,
                               c->oci_version);
    json_t *proc = json_object_get(json, "process");
    if (proc && !json_is_null(proc)) {
        if ((r = oci_process_parse(proc, "process", &c->process, err)) < 0)
            return berth_error_prefix(err, r, "%s: ", what);
        c->has_process = true;
    }
    json_t *hooks = json_object_get(json, "hooks");
    if ((r = json_opt_string(json, "hostname", "config", &c->hostname, err)) < 0 ||
        (r = json_opt_string(json, "domainname", "config", &c->domainname, err)) < 0 ||
        (r = json_opt_object(json, "annotations", "config", &c->annotations, err)) < 0 ||
        (c->annotations && (r = check_string_object(c->annotations, "annotations", err)) < 0) ||
        (r = parse_root(json, bundle, c, err)) < 0 || (r = parse_mounts(json, c, err)) < 0 ||
        (r = parse_linux(json, c, err)) < 0 || (r = oci_hooks_parse(hooks, "hooks", &c->hooks, err)) < 0 ||
        (r = validate(c, err)) < 0)
        return berth_error_prefix(err, r, "%s: ", what);
    if (c->hostname && !*c->hostname)
        c->hostname = NULL;
    if (c->hostname && strlen(c->hostname) > 64)
        return berth_error_set(err, -EINVAL, "%s: hostname: longer than 64 characters", what);
    *ret = TAKE_PTR(c);
    return 0;
}

int oci_config_load_bundle(const char *bundle, struct oci_config **ret, struct berth_error *err)
{
    _cleanup_free_ char *abs = realpath(bundle, NULL);
    if (!abs)
        return berth_error_errno(err, -errno, "bundle %s", bundle);
    _cleanup_free_ char *path = fs_path_join(abs, "config.json");
    if (!path)
        return -ENOMEM;
    json_t *json = NULL;
    int r = json_load_path(path, OCI_CONFIG_MAX, &json, err);
    if (r < 0)
        return r;
    r = oci_config_from_json(json, abs, path, ret, err);
    json_decref(json);
    return r;
}

void oci_runtime_config_free(struct oci_config *c)
{
    if (!c)
        return;
    oci_process_done(&c->process);
    for (size_t i = 0; i < c->n_mounts; i++)
        free(c->mounts[i].data);
    free(c->mounts);
    free(c->uid_mappings);
    free(c->gid_mappings);
    free(c->devices);
    free(c->masked_paths);
    free(c->readonly_paths);
    oci_hooks_done(&c->hooks);
    free(c->rootfs);
    free(c->bundle);
    json_decref(c->json);
    free(c);
}
