/* The cgroup manager: picks the v1 or v2 backend from the filesystem at the cgroup root, resolves
 * the container's cgroup path once, and persists what it found so that later commands (kill,
 * pause, update, delete) act on exactly the same directories. */
#include <errno.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

#define DEFAULT_ROOT "/sys/fs/cgroup"

/* v1 controllers berth uses or must place the container in (so pids/kill/stats see it). */
static const char *const v1_controllers[] = {
    "cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids",
    "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc",
};

void cgroup_manager_free(struct cgroup_manager *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_v1; i++) {
        free(m->v1[i].controllers);
        free(m->v1[i].mount);
        free(m->v1[i].rel);
        free(m->v1[i].dir);
    }
    free(m->root);
    free(m->path);
    free(m->dir);
    free(m);
}
DEFINE_CLEANUP_FUNC(struct cgroup_manager, cgroup_manager_free)

const char *cgroup_v1_dir_for(const struct cgroup_manager *m, const char *controller)
{
    size_t len = strlen(controller);
    for (size_t i = 0; i < m->n_v1; i++) {
        const char *p = m->v1[i].controllers;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t) (comma - p) : strlen(p);
            if (l == len && memcmp(p, controller, len) == 0)
                return m->v1[i].dir;
            p = comma ? comma + 1 : NULL;
        }
    }
    return NULL;
}

static bool systemd_running(void)
{
    /* sd_booted(): systemd creates this directory early at boot and only then. */
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

static int read_own_cgroups(char **ret)
{
    return fs_read_file("/proc/self/cgroup", 1 << 16, ret, NULL, NULL);
}

/* Finds the mounted v1 hierarchies under root, one entry per hierarchy (cpu and cpuacct may be
 * the same mount behind two symlinks). */
static int discover_v1(struct cgroup_manager *m, const char *cgroups_path, const char *id,
                       const char *own_text, struct berth_error *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
        _cleanup_free_ char *p = fs_path_join(m->root, v1_controllers[i]);
        if (!p)
            return -ENOMEM;
        struct statfs sfs;
        if (statfs(p, &sfs) < 0 || sfs.f_type != CGROUP_SUPER_MAGIC)
            continue;
        _cleanup_free_ char *real = realpath(p, NULL);
        if (!real)
            continue;
        bool dup = false;
        for (size_t j = 0; j < m->n_v1; j++)
            if (strcmp(m->v1[j].mount, real) == 0)
                dup = true;
        if (dup)
            continue;
        if (m->n_v1 == CGROUP_V1_MAX_CONTROLLERS)
            break;
        const char *base = strrchr(real, '/');
        base = base ? base + 1 : real;
        _cleanup_free_ char *own = NULL;
        if (own_text)
            cgroup_parse_proc_cgroup(own_text, v1_controllers[i], &own);
        _cleanup_free_ char *rel = NULL;
        int r = cgroup_resolve_path(cgroups_path, id, 1, own, &rel, err);
        if (r < 0)
            return r;
        struct cgroup_v1_dir *d = &m->v1[m->n_v1];
        /* A hierarchy mounted under another name (tests) still names its first controller. */
        d->controllers = strchr(base, ',') || strcmp(base, v1_controllers[i]) == 0
                             ? strdup(base) : strdup(v1_controllers[i]);
        d->mount = TAKE_PTR(real);
        d->dir = fs_path_join(d->mount, rel);
        d->rel = TAKE_PTR(rel);
        m->n_v1++;
        if (!d->controllers || !d->dir)
            return -ENOMEM;
    }
    if (m->n_v1 == 0)
        return berth_error_set(err, -ENOENT, "cgroup: no cgroup v1 controllers and no cgroup2 filesystem at %s",
                               m->root);
    return 0;
}

int cgroup_manager_new(const char *cgroups_path, const char *id, bool systemd, const char *root,
                       struct cgroup_manager **ret, struct berth_error *err)
{
    _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->root = strdup(root ? root : DEFAULT_ROOT);
    if (!m->root)
        return -ENOMEM;
    m->systemd = systemd;

    struct statfs sfs;
    if (statfs(m->root, &sfs) < 0)
        return berth_error_errno(err, -errno, "cgroup: %s", m->root);
    m->version = sfs.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
    m->ops = m->version == 2 ? &cgroup_v2_ops : &cgroup_v1_ops;

    _cleanup_free_ char *systemd_path = NULL;
    if (systemd) {
        if (!systemd_running())
            return berth_error_set(err, -EOPNOTSUPP,
                                   "--systemd-cgroup: not supported: systemd is not running on this host "
                                   "(use the default cgroupfs driver)");
        _cleanup_free_ char *def = NULL;
        if (!cgroups_path || !*cgroups_path) {
            if (asprintf(&def, "system.slice:berth:%s", id ? id : "") < 0)
                return -ENOMEM;
            cgroups_path = def;
        }
        int r = cgroup_systemd_path(cgroups_path, &systemd_path, err);
        if (r < 0)
            return r;
        cgroups_path = systemd_path;
    } else if (cgroups_path && cgroups_path[0] != '/' && strchr(cgroups_path, ':')) {
        return berth_error_set(err, -EINVAL,
                               "cgroupsPath '%s' is in the systemd slice:prefix:name form: pass --systemd-cgroup",
                               cgroups_path);
    }

    _cleanup_free_ char *own_text = NULL;
    read_own_cgroups(&own_text);
    int r;
    if (m->version == 2) {
        _cleanup_free_ char *own = NULL;
        if (own_text)
            cgroup_parse_proc_cgroup(own_text, NULL, &own);
        r = cgroup_resolve_path(cgroups_path, id, 2, own, &m->path, err);
        if (r < 0)
            return r;
        m->dir = fs_path_join(m->root, m->path);
        if (!m->dir)
            return -ENOMEM;
    } else {
        r = discover_v1(m, cgroups_path, id, own_text, err);
        if (r < 0)
            return r;
        m->path = strdup(m->v1[0].rel);
        if (!m->path)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(m);
    return 0;
}

int cgroup_enter(struct cgroup_manager *m, pid_t pid, struct berth_error *err)
{
    if (pid <= 0)
        return berth_error_set(err, -EINVAL, "cgroup: invalid pid %d", (int) pid);
    return m->ops->enter(m, pid, err);
}

int cgroup_apply(struct cgroup_manager *m, json_t *resources, struct berth_error *err)
{
    if (!resources || json_is_null(resources))
        return 0;
    if (!json_is_object(resources))
        return berth_error_set(err, -EINVAL, "linux.resources: must be an object");
    return m->ops->apply(m, resources, err);
}

int cgroup_freeze(struct cgroup_manager *m, bool frozen, struct berth_error *err)
{
    return m->ops->freeze(m, frozen, err);
}

int cgroup_is_frozen(struct cgroup_manager *m)
{
    return m->ops->is_frozen(m);
}

int cgroup_pids(struct cgroup_manager *m, pid_t **ret_pids, size_t *ret_n, struct berth_error *err)
{
    pid_t *pids = NULL;
    size_t n = 0;
    const char *dir = m->ops->procs_dir(m);
    int r = dir ? cgroup_collect_pids(dir, &pids, &n) : 0;
    if (r < 0) {
        free(pids);
        return berth_error_errno(err, r, "cgroup: listing processes of %s", dir);
    }
    *ret_pids = pids;
    *ret_n = n;
    return 0;
}

static int signal_all(struct cgroup_manager *m, int sig, struct berth_error *err)
{
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    int r = cgroup_pids(m, &pids, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], sig) < 0 && errno != ESRCH)
            return berth_error_errno(err, -errno, "cgroup: sending signal %d to pid %d", sig, (int) pids[i]);
    return (int) (n > 0);
}

int cgroup_kill_all(struct cgroup_manager *m, int sig, struct berth_error *err)
{
    if (m->version == 2 && sig == SIGKILL) {
        /* cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks included. */
        _cleanup_free_ char *p = fs_path_join(m->dir, "cgroup.kill");
        if (!p)
            return -ENOMEM;
        if (fs_exists(p)) {
            int r = fs_write_string(p, "1");
            if (r == 0 || r == -ENOENT)
                return 0;
        }
    }
    /* Freeze first so that nothing forks between listing the pids and signalling them; signals
     * sent to frozen tasks are delivered on thaw. Without a freezer, a few passes still catch
     * children forked while we were signalling. */
    bool was_frozen = cgroup_is_frozen(m) > 0;
    /* An empty cgroup that is not frozen has nothing to signal and nothing that could fork into
     * it: skip the freeze. That is every `delete` of a stopped container, and a v1 freeze/thaw is
     * not free (the first frozen cgroup flips a kernel static key, patching code on every CPU). */
    if (!was_frozen) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int k = cgroup_pids(m, &pids, &n, NULL);
        if (k < 0 && k != -ENOENT)
            return berth_error_errno(err, k, "cgroup: listing processes");
        if (n == 0)
            return 0;
    }
    struct berth_error ferr = { 0 };
    bool froze = !was_frozen && cgroup_freeze(m, true, &ferr) == 0;
    int r = 0;
    for (int pass = 0; pass < (froze ? 1 : 3); pass++) {
        r = signal_all(m, sig, err);
        if (r <= 0)
            break;
    }
    /* A paused container that is being killed must not stay frozen: v1 frozen tasks only act on
     * SIGKILL once thawed, and destroy cannot remove a cgroup whose tasks never die. */
    if (froze || (was_frozen && sig == SIGKILL))
        cgroup_freeze(m, false, &ferr);
    return r < 0 ? r : 0;
}

int cgroup_stats(struct cgroup_manager *m, struct cgroup_stats *ret, struct berth_error *err)
{
    struct cgroup_stats s = { .memory_limit = UINT64_MAX, .pids_limit = UINT64_MAX };
    int r = m->ops->stats(m, &s, err);
    if (r < 0)
        return r;
    *ret = s;
    return 0;
}

int cgroup_destroy(struct cgroup_manager *m, struct berth_error *err)
{
    int r = cgroup_kill_all(m, SIGKILL, err);
    if (r < 0 && r != -ENOENT)
        return r;
    return m->ops->destroy(m, err);
}

json_t *cgroup_manager_to_json(const struct cgroup_manager *m)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:b, s:i}", "version", m->version, "root", m->root, "path",
                          m->path, "systemd", m->systemd, "created", m->created);
    if (!o)
        return NULL;
    if (m->version == 1) {
        json_t *arr = json_array();
        if (!arr || json_object_set_new(o, "v1", arr) < 0) {
            json_decref(o);
            return NULL;
        }
        for (size_t i = 0; i < m->n_v1; i++) {
            const struct cgroup_v1_dir *d = &m->v1[i];
            if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i}", "controllers", d->controllers,
                                                     "mount", d->mount, "path", d->rel, "created",
                                                     d->created)) < 0) {
                json_decref(o);
                return NULL;
            }
        }
    }
    return o;
}

/* A persisted path is trusted no more than any other file on disk: no "..", absolute only. */
static bool safe_abs_path(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return false;
    return true;
}

int cgroup_manager_from_json(json_t *state, struct cgroup_manager **ret, struct berth_error *err)
{
    _cleanup_(cgroup_manager_freep) struct cgroup_manager *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int version = 0, created = 0, systemd = 0;
    const char *root = NULL, *path = NULL;
    json_t *v1 = NULL;
    json_error_t jerr;
    if (!json_is_object(state) ||
        json_unpack_ex(state, &jerr, 0, "{s:i, s:s, s:s, s?b, s?i, s?o}", "version", &version, "root", &root,
                       "path", &path, "systemd", &systemd, "created", &created, "v1", &v1) < 0 ||
        (version != 1 && version != 2) || !safe_abs_path(root) || !safe_abs_path(path))
        return berth_error_set(err, -EINVAL, "container state: invalid cgroup record");
    m->version = version;
    m->ops = version == 2 ? &cgroup_v2_ops : &cgroup_v1_ops;
    m->systemd = systemd;
    m->created = created;
    m->root = strdup(root);
    m->path = strdup(path);
    if (!m->root || !m->path)
        return -ENOMEM;
    if (version == 2) {
        m->dir = fs_path_join(m->root, m->path);
        if (!m->dir)
            return -ENOMEM;
    } else {
        size_t i;
        json_t *e;
        if (!json_is_array(v1) || json_array_size(v1) > CGROUP_V1_MAX_CONTROLLERS)
            return berth_error_set(err, -EINVAL, "container state: invalid cgroup v1 record");
        json_array_foreach(v1, i, e) {
            const char *c = NULL, *mount = NULL, *rel = NULL;
            int dc = 0;
            if (json_unpack(e, "{s:s, s:s, s:s, s?i}", "controllers", &c, "mount", &mount, "path", &rel,
                            "created", &dc) < 0 ||
                !safe_abs_path(mount) || !safe_abs_path(rel))
                return berth_error_set(err, -EINVAL, "container state: invalid cgroup v1 record");
            struct cgroup_v1_dir *d = &m->v1[m->n_v1++];
            d->controllers = strdup(c);
            d->mount = strdup(mount);
            d->rel = strdup(rel);
            d->dir = fs_path_join(mount, rel);
            d->created = dc;
            if (!d->controllers || !d->mount || !d->rel || !d->dir)
                return -ENOMEM;
        }
    }
    *ret = TAKE_PTR(m);
    return 0;
}
